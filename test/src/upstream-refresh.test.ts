import { CALL_META, type CallMeta } from '@mcprt/api';
import { DEV_CLIENT } from '@mcprt/dev-idp';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { tenantSetUpstream } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGithubDouble, type GithubDouble } from '../doubles/github.js';
import { githubRepo } from '../doubles/github-fixtures.js';
import { startGithubOAuthDouble, type GithubOAuthDouble } from '../doubles/github-oauth.js';
import { GMAIL_SCOPES, startGmailDouble, type GmailDouble } from '../doubles/gmail.js';
import { gmailMessage } from '../doubles/gmail-fixtures.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * Refresh-then-retry for a *connected* provider , end to end: a
 * Gmail or GitHub token we hold as valid (not expired) is refused with 401 → the worker refreshes it
 * once with the tenant's client at that provider (`tenant set-upstream`, the same path as the login
 * IdP's refresh in apps/worker/src/credential-refresh.ts) → runs the tool once more → succeeds; the
 * new tokens are stored sealed, and the next call uses them without another refresh.
 *
 * Google's token endpoint is the stack's dev IdP (oidc-provider) configured as a `google`-kind
 * provider; the Gmail double trusts the tokens it issues, as Gmail trusts Google's (a token its
 * userinfo endpoint accepts belongs to that subject). GitHub's is the GitHub OAuth double (8-hour
 * tokens, single-use refresh tokens), whose tokens the GitHub API double knows.
 */
const GMAIL_RO = GMAIL_SCOPES.readonly;

describe('refresh-then-retry for connected Google and GitHub credentials', () => {
  let s: Stack;
  let gmail: GmailDouble;
  let githubApi: GithubDouble;
  let githubOAuth: GithubOAuthDouble;

  beforeAll(async () => {
    [gmail, githubApi] = await Promise.all([startGmailDouble(), startGithubDouble()]);
    githubOAuth = await startGithubOAuthDouble({
      api: githubApi,
      users: [{ login: 'alice', id: 7001, name: 'Alice', email: 'alice@example.test' }],
      clients: [{ clientId: 'gh-tools2', clientSecret: 'gh-tools2-secret', redirectUris: ['http://127.0.0.1/unused'] }],
      expiresInSeconds: 28_800,
    });
    s = await startStack({
      label: 'uprefresh',
      enabledTools: ['email_search', 'github_repos'],
      env: { GMAIL_BASE_URL: gmail.url, GITHUB_API_BASE_URL: githubApi.url },
    });
    // The operator's `tenant set-upstream` for both providers (secrets from the environment in the real CLI).
    const res = { db: s.db.db, config: s.config, out: () => undefined };
    await tenantSetUpstream(res, {
      slug: s.tenant.slug,
      provider: 'google',
      issuer: s.idp.issuer,
      clientId: DEV_CLIENT.clientId,
      clientSecret: DEV_CLIENT.clientSecret,
      scopes: `openid email ${GMAIL_RO}`,
    });
    await tenantSetUpstream(res, {
      slug: s.tenant.slug,
      provider: 'github',
      issuer: githubOAuth.url,
      apiBase: githubApi.url,
      clientId: 'gh-tools2',
      clientSecret: 'gh-tools2-secret',
      scopes: 'read:user repo',
    });
    // Gmail accepts what Google's token endpoint issued: here, whatever the dev IdP's userinfo accepts.
    gmail.acceptIssuedTokens(async (token) => {
      const r = await fetch(s.idp.userinfoEndpoint, { headers: { authorization: `Bearer ${token}` } });
      if (!r.ok) return undefined;
      const { sub } = (await r.json()) as { sub: string };
      return { sameUserAs: `ya29.${sub}-first` };
    });
  }, 60_000);

  afterAll(async () => {
    await s?.close();
    await Promise.all([gmail?.close(), githubApi?.close(), githubOAuth?.close()]);
  });

  const call = async (sub: string, name: string, args: Record<string, unknown>, scope: string) => {
    const client = await s.client(await s.token(sub, { scope }));
    const res = CallToolResultSchema.parse(await client.callTool({ name, arguments: args }, { timeout: 30_000 }));
    expect(res.isError ?? false, JSON.stringify(res.content)).toBe(false);
    return { out: res.structuredContent as Record<string, any>, meta: res._meta?.[CALL_META] as CallMeta }; // eslint-disable-line @typescript-eslint/no-explicit-any
  };
  const tokenRequests = () => s.idpRequests.filter((r) => r === 'POST /token').length;

  it('Gmail 401 on a token thought valid → one refresh at Google with the tenant’s client → the search runs again and succeeds; the new token is stored sealed', async () => {
    // A real grant at the IdP standing in for Google, holding the Gmail scope (offline: a refresh token).
    const up = await s.idp.mintUpstreamToken({ sub: 'alice', scope: `openid email ${GMAIL_RO}` });
    gmail.addUser('ya29.alice-first', {
      scopes: [GMAIL_RO],
      data: {
        email: 'alice@example.test',
        messages: [gmailMessage({ from: 'carol@example.test', to: 'alice@example.test', subject: 'Invoice 42', text: 'pay me', date: new Date() })],
      },
    });
    // Stored as valid for another hour, but Gmail no longer accepts it (revoked early, say).
    gmail.revoke('ya29.alice-first');
    const user = await s.connectProvider('alice', 'google', {
      accessToken: 'ya29.alice-first',
      refreshToken: up.refreshToken!,
      expiresAt: new Date(Date.now() + 3_600_000),
      scopes: [GMAIL_RO],
    });
    const before = (await s.scope.credentials.get(user.id, 'google'))!;
    const tokensBefore = tokenRequests();
    const seen = gmail.requests.length;

    const { out, meta } = await call('alice', 'email_search', { query: 'invoice' }, 'tools:email_search');
    expect(out.messages.map((m: { subject: string }) => m.subject)).toEqual(['Invoice 42']);

    // One refresh at the token endpoint; Gmail saw the old token once (401), then only the new one.
    expect(tokenRequests() - tokensBefore).toBe(1);
    const sent = gmail.requests.slice(seen).map((r) => r.token);
    expect(sent[0]).toBe('ya29.alice-first');
    expect(sent.slice(1).length).toBeGreaterThan(0);
    expect(sent.slice(1).every((t) => t !== 'ya29.alice-first' && t !== undefined)).toBe(true);
    const fresh = sent[1]!;
    // Retried inside the attempt, not by the queue.
    const [row] = await s.db.sql`select attempt, status from tool_calls where id = ${meta.id}`;
    expect(row).toMatchObject({ attempt: 1, status: 'succeeded' });

    // Stored sealed, with the optimistic version bumped once; the scope Google answered kept.
    const after = (await s.scope.credentials.get(user.id, 'google'))!;
    expect(after.version).toBe(before.version + 1);
    expect(after.status).toBe('active');
    expect(s.vault.openAccessToken(after, after.accessTokenSealed)).toBe(fresh);
    expect(after.accessTokenSealed).not.toContain(fresh);
    expect(after.scopes).toContain(GMAIL_RO);
    expect(after.expiresAt!.getTime()).toBeGreaterThan(Date.now());
    // Google keeps the refresh token (no rotation at this IdP): the stored one still opens to it.
    expect(s.vault.openRefreshToken(after)).toBe(up.refreshToken);
    const raw = await s.db.sql`select * from credentials where id = ${after.id}`;
    expect(JSON.stringify(raw)).not.toContain(fresh);
    expect(JSON.stringify(raw)).not.toContain(up.refreshToken!);

    // The next call runs with the stored new token at once: no 401, no refresh.
    const again = gmail.requests.length;
    await call('alice', 'email_search', { query: 'invoice' }, 'tools:email_search');
    expect(tokenRequests() - tokensBefore).toBe(1);
    expect(gmail.requests.slice(again).every((r) => r.token === fresh)).toBe(true);
  }, 60_000);

  it('GitHub 401 on a token thought valid → one refresh at GitHub (single use, rotated) → github_repos runs again and succeeds; both new tokens stored sealed', async () => {
    githubApi.addRepo(githubRepo({ owner: 'alice', name: 'alice-private', private: true, files: { 'README.md': '# hi\n' } }));
    const issued = githubOAuth.issueTokens('alice', 'gh-tools2', ['repo', 'read:user']);
    const access = String(issued['access_token']);
    const refresh = String(issued['refresh_token']);
    expect(access).toMatch(/^ghu_/);
    expect(refresh).toMatch(/^ghr_/);
    const user = await s.connectProvider('alice', 'github', {
      accessToken: access,
      refreshToken: refresh,
      expiresAt: new Date(Date.now() + 8 * 3_600_000),
      scopes: ['repo', 'read:user'],
    });
    const before = (await s.scope.credentials.get(user.id, 'github'))!;
    githubApi.revoke(access);
    const seen = githubApi.requests.length;

    const { out, meta } = await call('alice', 'github_repos', {}, 'tools:github_repos');
    expect(JSON.stringify(out)).toContain('alice-private');

    // One refresh with the stored refresh token; GitHub spent it and issued a new pair.
    expect(githubOAuth.refreshes).toEqual([refresh]);
    const sent = githubApi.requests.slice(seen).map((r) => r.token);
    expect(sent[0]).toBe(access);
    const fresh = sent[1]!;
    expect(fresh).toMatch(/^ghu_/);
    expect(fresh).not.toBe(access);
    const [row] = await s.db.sql`select attempt, status from tool_calls where id = ${meta.id}`;
    expect(row).toMatchObject({ attempt: 1, status: 'succeeded' });

    const after = (await s.scope.credentials.get(user.id, 'github'))!;
    expect(after.version).toBe(before.version + 1);
    expect(s.vault.openAccessToken(after, after.accessTokenSealed)).toBe(fresh);
    const rotated = s.vault.openRefreshToken(after)!;
    expect(rotated).toMatch(/^ghr_/);
    expect(rotated).not.toBe(refresh);
    expect(after.scopes.sort()).toEqual(['read:user', 'repo']);
    const raw = JSON.stringify(await s.db.sql`select * from credentials where id = ${after.id}`);
    for (const t of [fresh, rotated]) expect(raw).not.toContain(t);

    // The next call: the new token, no refresh (GitHub would refuse the spent one anyway).
    const again = githubApi.requests.length;
    await call('alice', 'github_repos', {}, 'tools:github_repos');
    expect(githubOAuth.refreshes).toEqual([refresh]);
    expect(githubApi.requests.slice(again).every((r) => r.token === fresh)).toBe(true);
  }, 60_000);
});
