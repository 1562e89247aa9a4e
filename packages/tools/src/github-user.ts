import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { upstreamStatusError } from '@mcprt/egress';
import type { ToolContext } from './tool.js';

// `GET /user` as far as the tools read it (shared/reference/upstream-apis.md §5.1).
const githubUser = z.looseObject({ id: z.number().int(), login: z.string(), name: z.string().nullish(), email: z.string().nullish() });

/** The GitHub user a token belongs to, and the scopes GitHub says it carries (`X-OAuth-Scopes`, comma-separated). */
export async function githubUserOf(
  ctx: Pick<ToolContext, 'services' | 'signal'>,
  apiBase: string,
  accessToken: string,
): Promise<{ user: z.infer<typeof githubUser>; scopes: string[] | undefined }> {
  const res = await ctx.services.egress.request(`${apiBase.replace(/\/+$/, '')}/user`, {
    headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' },
    signal: ctx.signal,
    service: 'GitHub',
  });
  if (res.status !== 200) throw upstreamStatusError('GitHub', res.status, { retryAfter: res.headers.get('retry-after') });
  const user = githubUser.safeParse(await res.json());
  if (!user.success) throw new AppError('upstream', 'upstream_bad_response', 'GitHub returned an unexpected /user shape', { expose: true, retryable: false });
  const header = res.headers.get('x-oauth-scopes');
  return { user: user.data, scopes: header === null ? undefined : header.split(/[\s,]+/).filter(Boolean) };
}
