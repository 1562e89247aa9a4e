import { z } from 'zod';
import { defineTool } from '../tool.js';
import { mapBounded } from '../upstream.js';
import { GITHUB_REPO_SCOPE, linkPages, repoAnswer } from './github-shapes.js';

const PER_PAGE = 100;
/** Pages fetched at once after the first (GitHub: stay well under the secondary limits, docs/upstream-apis.md §5.5). */
const CONCURRENCY = 3;

/**
 * `GET /user/repos`: the repositories the user can see, private included. The first page says (via
 * `Link: rel="last"`) how many there are; the rest up to `max_results` are fetched with bounded
 * concurrency, by page number on the same endpoint (never by following the header's URLs).
 */
export const githubRepos = defineTool({
  name: 'github_repos',
  title: 'My GitHub repositories',
  description:
    'Lists the GitHub repositories you can see — private ones included — that you own, collaborate on or reach through an organization; filter by affiliation and visibility, sort by name or by last update/push.',
  input: z
    .object({
      affiliation: z
        .array(z.enum(['owner', 'collaborator', 'organization_member']))
        .min(1)
        .max(3)
        .optional()
        .describe('Which relationships to include (default: all three)'),
      visibility: z.enum(['all', 'public', 'private']).default('all'),
      sort: z.enum(['full_name', 'created', 'updated', 'pushed']).default('full_name'),
      max_results: z.number().int().min(1).max(500).default(100).describe('How many repositories at most (1–500)'),
    })
    .strict(),
  output: z.object({
    repositories: z.array(
      z.object({
        fullName: z.string(),
        private: z.boolean(),
        description: z.string().nullable(),
        defaultBranch: z.string().nullable(),
        url: z.string(),
        updatedAt: z.string().nullable(),
        pushedAt: z.string().nullable(),
      }),
    ),
    truncated: z.boolean().describe('You can see more repositories than max_results'),
  }),
  mcpScope: 'tools:github_repos',
  upstream: { provider: 'github', scopes: [GITHUB_REPO_SCOPE] },
  timeoutMs: 20_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: true },
  maxResultBytes: 512 * 1024,
  text: (out) =>
    out.repositories.length === 0
      ? 'You can see no repositories with these filters.'
      : [
          `${out.repositories.length} repositor${out.repositories.length === 1 ? 'y' : 'ies'}${out.truncated ? ' (more exist: raise max_results)' : ''}:`,
          ...out.repositories.map((r) => `- ${r.fullName}${r.private ? ' (private)' : ''}${r.description ? ` — ${r.description}` : ''}`),
        ].join('\n'),
  async run(ctx, args) {
    const gh = ctx.upstream!;
    const perPage = Math.min(PER_PAGE, args.max_results);
    const page = (n: number) =>
      gh.json(
        'github',
        {
          path: '/user/repos',
          query: {
            visibility: args.visibility,
            affiliation: args.affiliation?.join(','),
            sort: args.sort,
            direction: args.sort === 'full_name' ? 'asc' : 'desc',
            per_page: perPage,
            page: n,
          },
        },
        z.array(repoAnswer),
      );
    const first = await page(1);
    const last = linkPages(first.headers.get('link')).last ?? 1;
    const wanted = Math.min(last, Math.ceil(args.max_results / perPage));
    const rest = await mapBounded(
      Array.from({ length: Math.max(0, wanted - 1) }, (_, i) => i + 2),
      CONCURRENCY,
      ctx.signal,
      async (n) => (await page(n)).data,
    );
    const all = [first.data, ...rest].flat();
    return {
      repositories: all.slice(0, args.max_results).map((r) => ({
        fullName: r.full_name,
        private: r.private,
        description: r.description ?? null,
        defaultBranch: r.default_branch ?? null,
        url: r.html_url,
        updatedAt: r.updated_at ?? null,
        pushedAt: r.pushed_at ?? null,
      })),
      truncated: all.length > args.max_results || wanted < last,
    };
  },
});
