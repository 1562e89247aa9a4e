import { z } from 'zod';

/** GitHub's scope for private repositories (GitHub has no read-only one). */
export const GITHUB_REPO_SCOPE = 'repo';

/** `owner/name` as GitHub allows them. */
export const repoName = z
  .string()
  .regex(/^[A-Za-z0-9-]{1,39}\/[A-Za-z0-9._-]{1,100}$/, 'owner/name')
  .refine((s) => !s.split('/')[1]!.match(/^\.+$/), 'owner/name')
  .describe('Repository as owner/name');

// docs/upstream-apis.md §5.2: only the fields the tools read.
export const repoAnswer = z.looseObject({
  id: z.number(),
  name: z.string(),
  full_name: z.string(),
  private: z.boolean(),
  owner: z.looseObject({ login: z.string() }),
  html_url: z.string(),
  description: z.string().nullable().optional(),
  default_branch: z.string().optional(),
  updated_at: z.string().nullable().optional(),
  pushed_at: z.string().nullable().optional(),
});

/** The `rel` → page number of a GitHub `Link` header (only the page numbers: URLs are never followed). */
export function linkPages(header: string | null): Partial<Record<'next' | 'last' | 'prev' | 'first', number>> {
  const out: Partial<Record<'next' | 'last' | 'prev' | 'first', number>> = {};
  for (const m of (header ?? '').matchAll(/<([^>]*)>\s*;\s*rel="(next|last|prev|first)"/g)) {
    try {
      const page = Number(new URL(m[1]!).searchParams.get('page'));
      if (Number.isInteger(page) && page > 0) out[m[2] as 'next'] = page;
    } catch {
      // an unreadable URL is not a page
    }
  }
  return out;
}
