import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { upstreamStatusError } from '@mcprt/egress';
import { githubUserOf } from '../github-user.js';
import { defineTool, type ToolContext, type UpstreamCredential } from '../tool.js';

const userinfo = z.looseObject({ sub: z.string(), email: z.string().optional(), name: z.string().optional() });

/**
 * Proves the end-user path: the worker opens *this user's* upstream token and asks their IdP who
 * they are. The token itself is never part of the result.
 */
export const whoami = defineTool({
  name: 'whoami',
  title: 'Who am I',
  description:
    'Returns the identity this call runs as, read from your identity provider with your own token, with the scopes you granted and when the token expires.',
  input: z.object({}).strict(),
  output: z.object({
    tenant: z.string(),
    issuer: z.string(),
    subject: z.string(),
    email: z.string().nullable(),
    name: z.string().nullable(),
    grantedScopes: z.array(z.string()),
    tokenExpiresAt: z.string().nullable(),
  }),
  mcpScope: 'tools:whoami',
  // Any sign-in at the tenant's IdP lets it ask who the user is: an OIDC token carries `openid` (userinfo
  // needs it), a GitHub token (no OIDC) any of its scopes (`GET /user` needs none).
  upstream: { provider: 'idp', scopes: [] },
  timeoutMs: 10_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: true },
  async run(ctx) {
    const cred = ctx.credential;
    if (!cred) throw new AppError('policy', 'credential_missing', 'no upstream credential for this user');
    if (ctx.tenant.idpKind === 'github') return githubWhoami(ctx, cred);
    const { userinfoEndpoint } = await ctx.services.issuerMetadata(ctx.tenant.idpIssuer);
    if (!userinfoEndpoint) throw new AppError('upstream', 'userinfo_unsupported', 'the identity provider has no userinfo endpoint', { expose: true });
    const res = await ctx.services.egress.request(userinfoEndpoint, {
      headers: { authorization: `Bearer ${cred.accessToken}`, accept: 'application/json' },
      signal: ctx.signal,
      service: 'the identity provider',
    });
    if (res.status !== 200) throw upstreamStatusError('the identity provider', res.status, { retryAfter: res.headers.get('retry-after') });
    const info = userinfo.safeParse(await res.json());
    if (!info.success)
      throw new AppError('upstream', 'upstream_bad_response', 'the identity provider returned an unexpected userinfo shape', {
        expose: true,
        retryable: false,
      });
    // OIDC Core §5.3.2: the userinfo `sub` must match the subject the token was issued for.
    if (info.data.sub !== ctx.user.subject) {
      throw new AppError('upstream', 'subject_mismatch', 'the upstream token belongs to another subject', { expose: true });
    }
    return {
      tenant: ctx.tenant.slug,
      issuer: ctx.user.issuer,
      subject: info.data.sub,
      email: info.data.email ?? null,
      name: info.data.name ?? null,
      grantedScopes: cred.scopes,
      tokenExpiresAt: cred.expiresAt ? cred.expiresAt.toISOString() : null,
    };
  },
});

/** A GitHub-kind IdP has no userinfo: `GET /user` with the user's token; its numeric id is the subject we signed them in as. */
async function githubWhoami(ctx: ToolContext, cred: UpstreamCredential) {
  const apiBase = ctx.tenant.apiBase('idp');
  if (!apiBase) throw new AppError('upstream', 'userinfo_unsupported', 'the GitHub API base is not configured', { expose: true });
  const { user } = await githubUserOf(ctx, apiBase, cred.accessToken);
  if (String(user.id) !== ctx.user.subject)
    throw new AppError('upstream', 'subject_mismatch', 'the upstream token belongs to another subject', { expose: true });
  return {
    tenant: ctx.tenant.slug,
    issuer: ctx.user.issuer,
    subject: String(user.id),
    email: user.email ?? null,
    name: user.name ?? user.login,
    grantedScopes: cred.scopes,
    tokenExpiresAt: cred.expiresAt ? cred.expiresAt.toISOString() : null,
  };
}
