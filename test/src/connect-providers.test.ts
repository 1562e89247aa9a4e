import { createHash } from 'node:crypto';
import { connectLinkFor } from '@mcprt/providers';
import { parseKeyring } from '@mcprt/keyring';
import { forTenant } from '@mcprt/calls';
import { tenantsRepository, type Tenant } from '@mcprt/db';
import { startDevIdp, type DevIdp } from '@mcprt/dev-idp';
import type { Client } from '@modelcontextprotocol/client';
import { tenantSetIdp, tenantSetUpstream } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startGithubDouble, type GithubDouble } from '../doubles/github.js';
import { startGithubOAuthDouble, type GithubOAuthDouble } from '../doubles/github-oauth.js';
import { browse, BrowseError, CookieJar } from './harness/browser.js';
import { CLIENT_REDIRECT, signIn } from './harness/oauth-client.js';
import { captureLogs, expectNoSecrets } from './harness/secret-scan.js';
import { strictWire } from './harness/strict-wire.js';
import { startStack } from './harness/stack.js';

/**
 * End to end with the official SDK client: a tenant federated to an OIDC IdP whose
 * users connect GitHub (a GitHub-style OAuth 2 double) for a tool that needs it — the connect link
 * arrives as URL elicitation in either protocol era (or as a tool error), the user completes it in
 * their browser, and the call goes through; a second tenant signs users in with GitHub itself. Real
 * API, worker, Postgres, Redis, oidc-provider and openid-client.
 */

type Stack = Awaited<ReturnType<typeof startStack>>;
let s: Stack;
let oidcIdp: DevIdp;
let githubApi: GithubDouble;
let github: GithubOAuthDouble;
/** Tenant A: OIDC login (dev IdP), GitHub connectable. Tenant B: GitHub login. */
let A: { tenant: Tenant; mcpUrl: string; issuer: string };
let B: { tenant: Tenant; mcpUrl: string; issuer: string };
const { log, lines } = captureLogs();
/** github_profile needs read:user and repo; bob's first GitHub consent grants only read:user (then he upgrades). */
let bobGrants = 0;

const USERS = [
  { login: 'alice', id: 5001, name: 'Alice Liddell', email: 'alice@example.test' },
  { login: 'bob', id: 5002, name: 'Bob Builder', email: null },
];

async function tenant(label: string, tools: string[]) {
  const slug = `${s.ns.slug}-${label}`.slice(0, 63);
  const row = await tenantsRepository(s.db.db).create({ slug, displayName: `Tenant ${label}`, idpIssuer: 'https://placeholder.invalid', enabledTools: tools });
  return { tenant: row, slug, mcpUrl: `${s.config.PUBLIC_URL}/t/${slug}/mcp`, issuer: `${s.config.PUBLIC_URL}/t/${slug}` };
}
const reload = async (t: { tenant: Tenant }) => (t.tenant = (await tenantsRepository(s.db.db).byId(t.tenant.id))!);

beforeAll(async () => {
  s = await startStack({
    label: 'connect',
    log,
  });
  const a = await tenant('a', ['whoami', 'echo', 'github_profile']);
  const b = await tenant('b', ['whoami']);
  oidcIdp = await startDevIdp({
    port: 0,
    loginClients: [
      {
        clientId: 'mcprt-a',
        clientSecret: 'secret-a',
        // The same IdP also stands in for Google (an OIDC provider with Google's extra parameters).
        redirectUris: [`${a.issuer}/login/callback`, `${a.issuer}/connect/idp/callback`, `${a.issuer}/connect/google/callback`],
      },
    ],
  });
  githubApi = await startGithubDouble();
  github = await startGithubOAuthDouble({
    api: githubApi,
    users: USERS,
    clients: [
      { clientId: 'gh-login-b', clientSecret: 'gh-secret-b', redirectUris: [`${b.issuer}/login/callback`] },
      { clientId: 'gh-connect-a', clientSecret: 'gh-secret-a', redirectUris: [`${a.issuer}/connect/github/callback`] },
    ],
    grant: (login, requested) => (login === 'bob' && bobGrants++ === 0 ? requested.filter((x) => x !== 'repo') : requested),
    // GitHub App-style user tokens: 8 hours, with single-use refresh tokens.
    expiresInSeconds: 28_800,
  });
  const res = { db: s.db.db, config: s.config, out: () => undefined };
  // The operator's commands (secrets from the environment in the real CLI).
  await tenantSetIdp(res, { slug: a.slug, clientId: 'mcprt-a', clientSecret: 'secret-a', kind: 'oidc', issuer: oidcIdp.issuer, auth: 'builtin' });
  await tenantSetUpstream(res, {
    slug: a.slug,
    provider: 'github',
    issuer: github.url,
    apiBase: githubApi.url,
    clientId: 'gh-connect-a',
    clientSecret: 'gh-secret-a',
    scopes: 'read:user',
  });
  await tenantSetUpstream(res, {
    slug: a.slug,
    provider: 'google',
    issuer: oidcIdp.issuer,
    clientId: 'mcprt-a',
    clientSecret: 'secret-a',
    scopes: 'openid email',
  });
  await tenantSetIdp(res, {
    slug: b.slug,
    clientId: 'gh-login-b',
    clientSecret: 'gh-secret-b',
    kind: 'github',
    issuer: github.url,
    apiBase: githubApi.url,
    scopes: 'read:user',
    auth: 'builtin',
  });
  A = a;
  B = b;
  await reload(A);
  await reload(B);
});

afterAll(async () => {
  await oidcIdp?.close();
  await github?.close();
  await githubApi?.close();
  await s?.close();
});

const credentialOf = async (t: { tenant: Tenant }, subject: string, provider: string) => {
  const rows = await s.db.sql<{ id: string }[]>`select id from users where tenant_id = ${t.tenant.id} and subject = ${subject}`;
  return rows[0] ? forTenant(s.db.db, t.tenant.id).credentials.get(rows[0].id, provider) : undefined;
};

describe('tenant settings', () => {
  it('set-idp --kind github and set-upstream store the kind, endpoints and a sealed secret; bad input is refused', async () => {
    expect(A.tenant).toMatchObject({ idpKind: 'oidc', idpIssuer: oidcIdp.issuer, authMode: 'builtin' });
    expect(B.tenant).toMatchObject({ idpKind: 'github', idpIssuer: github.url, idpApiBase: githubApi.url, idpScopes: ['read:user'], authMode: 'builtin' });
    const gh = A.tenant.upstreams.github!;
    expect(gh).toMatchObject({ kind: 'github', issuer: github.url, apiBase: githubApi.url, clientId: 'gh-connect-a', scopes: ['read:user'] });
    expect(gh.clientSecretSealed).not.toContain('gh-secret-a');
    const res = { db: s.db.db, config: s.config, out: () => undefined };
    await expect(tenantSetIdp(res, { slug: A.tenant.slug, clientId: 'x', clientSecret: 'y', kind: 'saml' })).rejects.toThrow(/oidc, google or github/);
    await expect(tenantSetIdp(res, { slug: A.tenant.slug, clientId: 'x', clientSecret: 'y', kind: 'google', scopes: 'email' })).rejects.toThrow(/openid/);
    await expect(tenantSetIdp(res, { slug: B.tenant.slug, clientId: 'x', clientSecret: 'y', kind: 'github', auth: 'external' })).rejects.toThrow(/builtin/);
    await expect(tenantSetUpstream(res, { slug: A.tenant.slug, provider: 'idp', clientId: 'x', clientSecret: 'y' })).rejects.toThrow(/set-idp/);
    await expect(tenantSetUpstream(res, { slug: A.tenant.slug, provider: 'github', clientId: 'x' })).rejects.toThrow(/UPSTREAM_CLIENT_SECRET/);
  });
});

describe('login federated to a GitHub-style OAuth 2 IdP (second tenant, side by side)', () => {
  it('the SDK client signs alice in at B through GitHub (no OIDC): whoami answers her GitHub identity; A and B refuse each other’s tokens', async () => {
    const before = github.authorizeRequests.length;
    const atB = await signIn(B.mcpUrl, 'alice');
    await atB.connect();
    const asked = github.authorizeRequests[before]!;
    // GitHub's OAuth web flow: code + PKCE S256 + state, no OIDC nonce; our callback as redirect_uri.
    expect(asked.searchParams.get('client_id')).toBe('gh-login-b');
    expect(asked.searchParams.get('code_challenge_method')).toBe('S256');
    expect(asked.searchParams.get('state')).toBeTruthy();
    expect(asked.searchParams.get('nonce')).toBeNull();
    expect(asked.searchParams.get('redirect_uri')).toBe(`${B.issuer}/login/callback`);
    const r = await atB.client.callTool({ name: 'whoami', arguments: {} });
    expect(r.isError ?? false).toBe(false);
    expect(r.structuredContent).toMatchObject({
      tenant: B.tenant.slug,
      issuer: github.url,
      subject: '5001',
      email: 'alice@example.test',
      name: 'Alice Liddell',
    });
    const cred = (await credentialOf(B, '5001', 'idp'))!;
    expect(cred.scopes).toEqual(['read:user']);
    await atB.client.close();

    const atA = await signIn(A.mcpUrl, 'alice');
    await atA.connect();
    expect((await atA.client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ subject: 'alice', issuer: oidcIdp.issuer });
    await atA.client.close();
    for (const [token, url] of [
      [atA.auth.stored!.access_token, B.mcpUrl],
      [atB.auth.stored!.access_token, A.mcpUrl],
    ] as const) {
      const res = await s.post(
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
        { authorization: `Bearer ${token}`, 'mcp-protocol-version': '2025-11-25' },
        url,
      );
      expect(res.status, url).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
  });
});

/** Opens a connect link in `jar`'s browser as `account` at the provider, up to our "connected" page. */
const completeConnect = (url: string, account: string, jar: CookieJar) => browse(url, { account, stopAt: 'http://never.invalid/', jar });

describe('connecting GitHub for a tool that needs it', () => {
  it('2026-07-28 client with URL elicitation: the call asks to connect (input_required), the user connects in the browser, the retried call succeeds', async () => {
    const jar = new CookieJar();
    const wire = strictWire();
    const alice = await signIn(A.mcpUrl, 'alice', { capabilities: { elicitation: { url: {} } }, jar, fetch: wire.fetch });
    const asked: { mode?: string; url?: string; message?: string }[] = [];
    alice.client.setRequestHandler('elicitation/create', async (req) => {
      const p = req.params as { mode?: string; url?: string; message?: string };
      asked.push(p);
      const done = await completeConnect(p.url!, 'alice', jar);
      expect(done.page).toContain('data-connected="github"');
      return { action: 'accept' };
    });
    await alice.connect();
    const r = await alice.client.callTool({ name: 'github_profile', arguments: {} });
    expect(asked).toHaveLength(1);
    expect(asked[0]!.mode).toBe('url');
    const link = new URL(asked[0]!.url!);
    expect(link.origin + link.pathname).toBe(`${A.issuer}/connect/github`);
    expect(link.searchParams.get('scopes')).toBe('read:user repo');
    expect(asked[0]!.url).toContain('?scopes=read%3Auser%20repo&for=');
    expect(asked[0]!.message).toMatch(/github/);
    expect(r.isError ?? false).toBe(false);
    expect(r.structuredContent).toMatchObject({ login: 'alice', id: 5001 });
    expect((r.structuredContent as { tokenScopes: string[] }).tokenScopes).toEqual(expect.arrayContaining(['read:user', 'repo']));
    const cred = (await credentialOf(A, 'alice', 'github'))!;
    expect(cred.status).toBe('active');
    expect(cred.scopes.sort()).toEqual(['read:user', 'repo']);
    const audit = await s.db.sql<{ action: string; reason: string }[]>`
      select action, reason from audit_events where tenant_id = ${A.tenant.id} and action in ('credential.connected', 'tool_call.refused') order by id`;
    expect(audit.map((a) => a.action)).toEqual(expect.arrayContaining(['tool_call.refused', 'credential.connected']));
    await alice.client.close();
    // The input_required answer (and every other one) conforms to the 2026-07-28 schema, as the official tasks client checks it.
    expect(await wire.problems()).toEqual([]);
    expect(wire.seen.some((x) => (x.message.result as { resultType?: string } | undefined)?.resultType === 'input_required')).toBe(true);
  });

  it('2025-11-25 client with URL elicitation: -32042 with the link; bob connects but grants too little, the next call asks for repo only, then succeeds', async () => {
    const jar = new CookieJar();
    const bob = await signIn(A.mcpUrl, 'bob', { era: 'legacy', capabilities: { elicitation: { url: {} } }, jar });
    await bob.connect();
    const elicitation = async (c: Client) => {
      const err = (await c.callTool({ name: 'github_profile', arguments: {} }).then(
        () => undefined,
        (e: unknown) => e,
      )) as { code?: number; data?: { elicitations?: { mode: string; url: string; elicitationId: string; message: string }[] } } | undefined;
      expect(err?.code).toBe(-32042);
      expect(err!.data!.elicitations).toHaveLength(1);
      const e = err!.data!.elicitations![0]!;
      expect(e.mode).toBe('url');
      expect(e.elicitationId).toBeTruthy();
      return new URL(e.url);
    };
    const first = await elicitation(bob.client);
    expect(first.searchParams.get('scopes')).toBe('read:user repo');
    await completeConnect(first.href, 'bob', jar);
    expect((await credentialOf(A, 'bob', 'github'))!.scopes).toEqual(['read:user']);
    // Upgrade: only the missing scope is asked for; the connect flow asks GitHub for the union.
    const second = await elicitation(bob.client);
    expect(second.searchParams.get('scopes')).toBe('repo');
    const before = github.authorizeRequests.length;
    await completeConnect(second.href, 'bob', jar);
    expect(github.authorizeRequests[before]!.searchParams.get('scope')!.split(' ').sort()).toEqual(['read:user', 'repo']);
    const r = await bob.client.callTool({ name: 'github_profile', arguments: {} });
    expect(r.structuredContent).toMatchObject({ login: 'bob', id: 5002 });
    await bob.client.close();
  });

  it('2026-07-28: a declined elicitation ends in the tool error with the link (not asked again); a client without URL elicitation gets that error at once', async () => {
    await s.db.sql`update credentials set status = 'revoked' where tenant_id = ${A.tenant.id} and provider = 'github'
      and user_id = (select id from users where tenant_id = ${A.tenant.id} and subject = 'bob')`;
    const declining = await signIn(A.mcpUrl, 'bob', { capabilities: { elicitation: { url: {} } } });
    let asked = 0;
    declining.client.setRequestHandler('elicitation/create', async () => {
      asked++;
      return { action: 'decline' };
    });
    await declining.connect();
    const r = await declining.client.callTool({ name: 'github_profile', arguments: {} });
    expect(asked).toBe(1);
    expect(r.isError).toBe(true);
    expect((r._meta?.['io.mcprt/error'] as { code: string }).code).toBe('credential_unavailable');
    await declining.client.close();
    const plain = await signIn(A.mcpUrl, 'bob');
    await plain.connect();
    const p = await plain.client.callTool({ name: 'github_profile', arguments: {} });
    expect(p.isError).toBe(true);
    expect((p._meta?.['io.mcprt/error'] as { connect: { url: string } }).connect.url).toContain('/connect/github?scopes=read%3Auser%20repo&for=');
    await plain.client.close();
  });

  it('a client that did not declare URL elicitation gets a tool error carrying the link', async () => {
    const jar = new CookieJar();
    const carol = await signIn(A.mcpUrl, 'alice', { era: 'legacy', jar });
    await carol.connect();
    // alice is connected already: take her GitHub credential away to see the refusal.
    await s.db.sql`update credentials set status = 'revoked' where tenant_id = ${A.tenant.id} and provider = 'github'
      and user_id = (select id from users where tenant_id = ${A.tenant.id} and subject = 'alice')`;
    const r = await carol.client.callTool({ name: 'github_profile', arguments: {} });
    expect(r.isError).toBe(true);
    const meta = r._meta?.['io.mcprt/error'] as { code: string; connect: { url: string; provider: string; scopes: string[] } };
    expect(meta.code).toBe('credential_unavailable');
    expect(meta.connect).toMatchObject({ provider: 'github', scopes: ['read:user', 'repo'] });
    expect(JSON.stringify(r.content)).toContain(meta.connect.url);
    await completeConnect(meta.connect.url, 'alice', jar);
    expect((await carol.client.callTool({ name: 'github_profile', arguments: {} })).structuredContent).toMatchObject({ login: 'alice' });
    await carol.client.close();
  });
});

describe('a connected GitHub token expires', () => {
  it("the worker refreshes it at GitHub's token endpoint (single use, rotated); once GitHub refuses the refresh (bad_refresh_token) the user is asked to reconnect", async () => {
    const jar = new CookieJar();
    const alice = await signIn(A.mcpUrl, 'alice', { era: 'legacy', jar });
    await alice.connect();
    const before = (await credentialOf(A, 'alice', 'github'))!;
    expect(before.status).toBe('active');
    const oldRefresh = s.vault.openRefreshToken(before)!;
    expect(oldRefresh).toMatch(/^ghr_/);
    await s.db.sql`update credentials set expires_at = now() - interval '1 minute' where id = ${before.id}`;
    const ok = await alice.client.callTool({ name: 'github_profile', arguments: {} });
    expect(ok.isError ?? false).toBe(false);
    expect(ok.structuredContent).toMatchObject({ login: 'alice' });
    expect(github.refreshes).toContain(oldRefresh);
    const after = (await credentialOf(A, 'alice', 'github'))!;
    expect(after.accessTokenSealed).not.toBe(before.accessTokenSealed);
    expect(after.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 7 * 3_600_000);
    const newRefresh = s.vault.openRefreshToken(after)!;
    expect(newRefresh).not.toBe(oldRefresh);
    expect(after.scopes.sort()).toEqual(['read:user', 'repo']);

    // The user revoked the app at GitHub: the refresh is refused with GitHub's 200 + bad_refresh_token.
    github.revokeRefreshToken(newRefresh);
    await s.db.sql`update credentials set expires_at = now() - interval '1 minute' where id = ${after.id}`;
    const refused = await alice.client.callTool({ name: 'github_profile', arguments: {} });
    expect(refused.isError).toBe(true);
    const reauth = refused._meta?.['io.mcprt/error'] as { code: string; connect: { url: string } };
    expect(reauth.code).toBe('reauth_required');
    // The link is made for her (the worker's error names only the route).
    expect(reauth.connect.url).toContain(`${A.issuer}/connect/github?scopes=read%3Auser%20repo&for=`);
    expect(JSON.stringify(refused.content)).toContain(reauth.connect.url);
    expect((await credentialOf(A, 'alice', 'github'))!.status).toBe('reauth_required');
    // The next call is refused at admission with a link made for her; connecting again restores it.
    const next = await alice.client.callTool({ name: 'github_profile', arguments: {} });
    const meta = next._meta?.['io.mcprt/error'] as { code: string; connect: { url: string } };
    expect(meta.code).toBe('credential_unavailable');
    await completeConnect(meta.connect.url, 'alice', jar);
    expect((await alice.client.callTool({ name: 'github_profile', arguments: {} })).structuredContent).toMatchObject({ login: 'alice' });
    await alice.client.close();
  });
});

describe('a Google-kind provider', () => {
  it('asks for offline access with consent and incremental scopes (access_type=offline, prompt=consent, include_granted_scopes=true), PKCE and nonce; the tokens land sealed under google', async () => {
    const jar = new CookieJar();
    await signIn(A.mcpUrl, 'alice', { jar });
    let asked: URL | undefined;
    const done = await browse(`${A.issuer}/connect/google?scopes=profile`, {
      account: 'alice',
      stopAt: 'http://never.invalid/',
      jar,
      rewrite: (u) => {
        if (u.origin === new URL(oidcIdp.issuer).origin && u.pathname === '/auth') asked = new URL(u);
        return u;
      },
    });
    expect(done.page).toContain('data-connected="google"');
    expect(asked).toBeDefined();
    const p = asked!.searchParams;
    expect([p.get('access_type'), p.get('prompt'), p.get('include_granted_scopes')]).toEqual(['offline', 'consent', 'true']);
    expect(p.get('code_challenge_method')).toBe('S256');
    expect(p.get('nonce')).toBeTruthy();
    expect(p.get('scope')!.split(' ').sort()).toEqual(['email', 'openid', 'profile']);
    const cred = (await credentialOf(A, 'alice', 'google'))!;
    expect(cred.status).toBe('active');
    expect(cred.accessTokenSealed.length).toBeGreaterThan(20);
  });
});

describe('the connect flow checks who completes it', () => {
  let aliceJar: CookieJar;
  let bobJar: CookieJar;
  let aliceId: string;
  beforeAll(async () => {
    aliceJar = new CookieJar();
    bobJar = new CookieJar();
    await signIn(A.mcpUrl, 'alice', { jar: aliceJar });
    await signIn(A.mcpUrl, 'bob', { jar: bobJar });
    aliceId = (await s.db.sql<{ id: string }[]>`select id from users where tenant_id = ${A.tenant.id} and subject = 'alice'`)[0]!.id;
  });
  const linkFor = (userId: string, provider = 'github', now = Date.now()) =>
    connectLinkFor(parseKeyring(s.config.SEAL_KEYS), s.config.PUBLIC_URL, A.tenant, userId, provider, ['repo'], now);
  const get = async (url: string, jar?: CookieJar) => {
    const u = new URL(url);
    const res = await fetch(u, { redirect: 'manual', headers: jar ? { cookie: jar.header(u) } : {} });
    return { status: res.status, location: res.headers.get('location'), body: await res.text(), res };
  };
  const code = (html: string) => /data-error="([^"]+)"/.exec(html)?.[1];

  it("alice's link opened in bob's browser → 403 connect_wrong_user, nothing stored, audited", async () => {
    const before = await credentialOf(A, 'bob', 'github');
    const r = await get(linkFor(aliceId), bobJar);
    expect(r.status).toBe(403);
    expect(code(r.body)).toBe('connect_wrong_user');
    expect(r.location).toBeNull();
    expect((await credentialOf(A, 'bob', 'github'))?.version).toBe(before?.version);
    const audit = await s.db.sql`select reason from audit_events where tenant_id = ${A.tenant.id} and action = 'credential.connect_refused'`;
    expect(audit.map((a) => a.reason)).toContain('connect_wrong_user provider=github');
  });

  it("a connect started in bob's browser and finished in alice's (his callback URL and cookie) → 403; the code is never redeemed", async () => {
    // Bob starts his own connect and stops at our callback; alice's browser receives it with bob's cookie.
    const stolen = await browse(linkFor((await s.db.sql<{ id: string }[]>`select id from users where tenant_id = ${A.tenant.id} and subject = 'bob'`)[0]!.id), {
      account: 'bob',
      stopAt: `${A.issuer}/connect/github/callback`,
      jar: bobJar,
    });
    const cb = stolen.callback;
    const bobCookie = bobJar.header(cb);
    const aliceCookie = aliceJar.header(cb);
    const issuedBefore = github.issued.length;
    const res = await fetch(cb, {
      redirect: 'manual',
      headers: {
        cookie: [
          aliceCookie,
          bobCookie
            .split('; ')
            .filter((c) => c.startsWith('mcprt_connect_'))
            .join('; '),
        ].join('; '),
      },
    });
    expect(res.status).toBe(403);
    expect(code(await res.text())).toBe('connect_wrong_user');
    expect(github.issued.length, 'the code was not redeemed').toBe(issuedBefore);
  });

  it('an expired or forged link → 400; not signed in → 401; an unknown provider → 404', async () => {
    const expired = await get(linkFor(aliceId, 'github', Date.now() - 31 * 60_000), aliceJar);
    expect(expired.status).toBe(400);
    expect(code(expired.body)).toBe('connect_link_expired');
    const forged = linkFor(aliceId).replace(/for=([^&]+)/, (_m, v: string) => `for=${v.slice(0, -6)}AAAAAA`);
    expect(code((await get(forged, aliceJar)).body)).toBe('connect_link_invalid');
    // A link for one provider does not open another's flow (sealed to the provider).
    const other = linkFor(aliceId, 'github').replace('/connect/github', '/connect/idp');
    expect(code((await get(other, aliceJar)).body)).toBe('connect_link_invalid');
    // Without a session and without a link made for someone, nobody to connect for.
    const anonymous = await get(`${A.issuer}/connect/github?scopes=repo`);
    expect(anonymous.status).toBe(401);
    expect(code(anonymous.body)).toBe('not_signed_in');
    const unknown = await get(`${A.issuer}/connect/gitlab`, aliceJar);
    expect(unknown.status).toBe(404);
    expect(code(unknown.body)).toBe('provider_not_configured');
    const badScopes = await get(`${A.issuer}/connect/github?scopes=${encodeURIComponent('repo "x"')}`, aliceJar);
    expect(badScopes.status).toBe(400);
  });

  it("a browser without a session: the link's user signs in at the tenant IdP first, then connects; someone else signing in there is refused", async () => {
    const fresh = new CookieJar();
    const link = linkFor(aliceId);
    const first = await get(link, fresh);
    expect(first.status).toBe(303);
    expect(new URL(first.location!).origin).toBe(new URL(oidcIdp.issuer).origin);
    // bob, in a browser without any session, opens alice's link and signs in as himself.
    const asBob = await completeConnect(link, 'bob', new CookieJar()).catch((e: unknown) => e as BrowseError);
    expect(asBob).toBeInstanceOf(BrowseError);
    expect((asBob as BrowseError).status).toBe(403);
    expect(code((asBob as BrowseError).body)).toBe('connect_wrong_user');
    // alice, in a browser without a session, signs in, comes back to the link and connects.
    const before = (await credentialOf(A, 'alice', 'github'))!;
    const done = await completeConnect(link, 'alice', fresh);
    expect(done.page).toContain('data-connected="github"');
    const steps = done.steps.map((x) => new URL(x.url).pathname);
    expect(steps).toEqual(expect.arrayContaining([`/t/${A.tenant.slug}/login/callback`, `/t/${A.tenant.slug}/connect/github/callback`]));
    expect((await credentialOf(A, 'alice', 'github'))!.version).toBeGreaterThan(before.version);
  });

  it("upgrading the login IdP's scopes as someone else (alice's session, bob at the IdP) → 403 connect_identity_mismatch", async () => {
    const before = (await credentialOf(A, 'alice', 'idp'))!;
    // Her session at the IdP has ended (else the IdP would sign her in again without asking).
    aliceJar.forget(new URL(oidcIdp.issuer).origin);
    const err = await completeConnect(`${A.issuer}/connect/idp?scopes=profile`, 'bob', aliceJar).catch((e: unknown) => e as BrowseError);
    expect(err).toBeInstanceOf(BrowseError);
    expect((err as BrowseError).status).toBe(403);
    expect(code((err as BrowseError).body)).toBe('connect_identity_mismatch');
    expect((await credentialOf(A, 'alice', 'idp'))!.version).toBe(before.version);
    // As herself it works, and keeps her identity.
    aliceJar.forget(new URL(oidcIdp.issuer).origin);
    const ok = await completeConnect(`${A.issuer}/connect/idp?scopes=profile`, 'alice', aliceJar);
    expect(ok.page).toContain('data-connected="idp"');
  });

  it('a connect callback whose state was changed → 400 upstream_login_failed', async () => {
    const err = await browse(linkFor(aliceId), {
      account: 'alice',
      stopAt: 'http://never.invalid/',
      jar: aliceJar,
      rewrite: (u) => {
        if (u.href.startsWith(`${A.issuer}/connect/github/callback`)) u.searchParams.set('state', 'forged');
        return u;
      },
    }).catch((e: unknown) => e as BrowseError);
    expect((err as BrowseError).status).toBe(400);
    expect(code((err as BrowseError).body)).toBe('upstream_login_failed');
  });
});

describe('the federated login callback checks state and nonce', () => {
  const register = async (issuer: string) => {
    const res = await fetch(`${issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ redirect_uris: [CLIENT_REDIRECT], token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] }),
    });
    return ((await res.json()) as { client_id: string }).client_id;
  };
  const verifier = 'v'.repeat(43);
  const authorize = (issuer: string, mcpUrl: string, clientId: string, redirect = CLIENT_REDIRECT) => {
    const u = new URL(`${issuer}/auth`);
    for (const [k, v] of Object.entries({
      response_type: 'code',
      client_id: clientId,
      redirect_uri: redirect,
      scope: 'tools:whoami',
      state: 'st',
      resource: mcpUrl,
      code_challenge: createHash('sha256').update(verifier).digest('base64url'),
      code_challenge_method: 'S256',
    }))
      u.searchParams.set(k, v);
    return u;
  };

  it('an IdP code bound to another nonce (state and PKCE copied from the real request) → 400 upstream_login_failed', async () => {
    const clientId = await register(A.issuer);
    const err = await browse(authorize(A.issuer, A.mcpUrl, clientId), {
      account: 'alice',
      stopAt: CLIENT_REDIRECT,
      // The attacker's authorization request at the IdP: everything copied but the nonce.
      rewrite: (u) => {
        if (u.origin === new URL(oidcIdp.issuer).origin && u.pathname.endsWith('/auth') && u.searchParams.has('nonce'))
          u.searchParams.set('nonce', 'attacker-nonce');
        return u;
      },
    }).catch((e: unknown) => e as BrowseError);
    expect(err).toBeInstanceOf(BrowseError);
    expect((err as BrowseError).status).toBe(400);
    expect(/data-error="([^"]+)"/.exec((err as BrowseError).body)?.[1]).toBe('upstream_login_failed');
  });

  it('GitHub login: a callback whose state was changed → 400 upstream_login_failed', async () => {
    const clientId = await register(B.issuer);
    const err = await browse(authorize(B.issuer, B.mcpUrl, clientId), {
      account: 'bob',
      stopAt: CLIENT_REDIRECT,
      rewrite: (u) => {
        if (u.href.startsWith(`${B.issuer}/login/callback`)) u.searchParams.set('state', 'forged');
        return u;
      },
    }).catch((e: unknown) => e as BrowseError);
    expect((err as BrowseError).status).toBe(400);
    expect(/data-error="([^"]+)"/.exec((err as BrowseError).body)?.[1]).toBe('upstream_login_failed');
  });

  it('RFC 8252: a loopback redirect registered without a port is accepted on any port; a non-loopback one only exactly', async () => {
    const reg = async (uris: string[]) => {
      const res = await fetch(`${A.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: uris, token_endpoint_auth_method: 'none', grant_types: ['authorization_code', 'refresh_token'] }),
      });
      expect(res.status).toBe(201);
      return ((await res.json()) as { client_id: string }).client_id;
    };
    const loopback = await reg(['http://127.0.0.1/cb']);
    const { callback } = await browse(authorize(A.issuer, A.mcpUrl, loopback, 'http://127.0.0.1:53123/cb'), {
      account: 'alice',
      stopAt: 'http://127.0.0.1:53123/cb',
    });
    expect(callback.searchParams.get('code')).toBeTruthy();
    // Path and scheme still exact.
    for (const wrong of ['http://127.0.0.1:53123/other', 'https://127.0.0.1:53123/cb']) {
      const res = await fetch(authorize(A.issuer, A.mcpUrl, loopback, wrong), { redirect: 'manual' });
      expect(res.status, wrong).toBe(400);
    }
    const web = await reg(['https://app.example/cb']);
    for (const wrong of ['https://app.example:8443/cb', 'https://app.example/cb/x']) {
      const res = await fetch(authorize(A.issuer, A.mcpUrl, web, wrong), { redirect: 'manual' });
      expect(res.status, wrong).toBe(400);
      expect(res.headers.get('location')).toBeNull();
    }
  });

  it('the revocation endpoint: a revoked refresh token then fails with invalid_grant', async () => {
    const clientId = await register(A.issuer);
    const { callback } = await browse(authorize(A.issuer, A.mcpUrl, clientId), { account: 'alice', stopAt: CLIENT_REDIRECT });
    const form = (body: Record<string, string>) => ({
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams(body).toString(),
    });
    const t = await fetch(
      `${A.issuer}/token`,
      form({
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code')!,
        client_id: clientId,
        redirect_uri: CLIENT_REDIRECT,
        code_verifier: verifier,
        resource: A.mcpUrl,
      }),
    );
    const tokens = (await t.json()) as { refresh_token: string };
    // Another client cannot revoke it (RFC 7009 §2.1): answered 200, no effect.
    const other = await register(A.issuer);
    expect((await fetch(`${A.issuer}/token/revocation`, form({ token: tokens.refresh_token, client_id: other }))).status).toBe(200);
    const still = await fetch(`${A.issuer}/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }));
    expect(still.status).toBe(200);
    tokens.refresh_token = ((await still.json()) as { refresh_token: string }).refresh_token;
    const revoked = await fetch(`${A.issuer}/token/revocation`, form({ token: tokens.refresh_token, token_type_hint: 'refresh_token', client_id: clientId }));
    expect(revoked.status).toBe(200);
    const refresh = await fetch(`${A.issuer}/token`, form({ grant_type: 'refresh_token', refresh_token: tokens.refresh_token, client_id: clientId }));
    expect(refresh.status).toBe(400);
    expect(((await refresh.json()) as { error: string }).error).toBe('invalid_grant');
  });
});

describe('no open redirect on any redirecting route', () => {
  it('authorize, login callback, connect and its callback, consent, account revoke, end_session: never to an attacker URL', async () => {
    const jar = new CookieJar();
    await signIn(A.mcpUrl, 'alice', { jar });
    const evil = 'https://evil.example/steal';
    const at = async (method: 'GET' | 'POST', path: string, body?: Record<string, string>) => {
      const u = new URL(`${A.issuer}${path}`);
      const res = await fetch(u, {
        method,
        redirect: 'manual',
        headers: { cookie: jar.header(u), ...(body ? { 'content-type': 'application/x-www-form-urlencoded' } : {}) },
        ...(body ? { body: new URLSearchParams(body).toString() } : {}),
      });
      await res.arrayBuffer();
      return { status: res.status, location: res.headers.get('location') };
    };
    const q = `redirect_uri=${encodeURIComponent(evil)}&return_to=${encodeURIComponent(evil)}&next=${encodeURIComponent(evil)}`;
    const cases: [string, { status: number; location: string | null }][] = [
      ['authorize', await at('GET', `/auth?response_type=code&client_id=x&code_challenge=${'c'.repeat(43)}&code_challenge_method=S256&${q}`)],
      ['login callback', await at('GET', `/login/callback?code=x&state=y&${q}`)],
      ['connect callback', await at('GET', `/connect/github/callback?code=x&state=y&${q}`)],
      ['consent', await at('POST', `/interaction/not-a-uid/consent?${q}`, { csrf: 'x', decision: 'allow', redirect_uri: evil })],
      ['account revoke', await at('POST', `/account/revoke?${q}`, { csrf: 'x', grant: 'g', return_to: evil })],
      ['end_session', await at('GET', `/session/end?post_logout_redirect_uri=${encodeURIComponent(evil)}&client_id=x`)],
    ];
    for (const [name, r] of cases) {
      expect(r.location, name).toBeNull();
      expect(r.status, name).toBeGreaterThanOrEqual(400);
    }
    // The one route that redirects on success goes to the tenant's configured provider only, with our callback.
    const connect = await at('GET', `/connect/github?scopes=repo&${q}`);
    expect(connect.status).toBe(303);
    const to = new URL(connect.location!);
    expect(to.origin).toBe(github.url);
    expect(to.searchParams.get('redirect_uri')).toBe(`${A.issuer}/connect/github/callback`);
  });
});

describe('upstream tokens stay secret', () => {
  it('after sign-ins and connects: no upstream token in a tool result, a log line, the AS store or Redis', async () => {
    const jar = new CookieJar();
    const alice = await signIn(A.mcpUrl, 'alice', { jar, era: 'legacy' });
    await alice.connect();
    const results = [
      JSON.stringify(await alice.client.callTool({ name: 'github_profile', arguments: {} })),
      JSON.stringify(await alice.client.callTool({ name: 'whoami', arguments: {} })),
    ];
    await alice.client.close();
    const vaultOpen = async (t: { tenant: Tenant }, subject: string, provider: string) => {
      const c = (await credentialOf(t, subject, provider))!;
      return s.vault.openAccessToken(c, c.accessTokenSealed);
    };
    const upstream = [
      ...github.issued.map((i) => i.token),
      await vaultOpen(A, 'alice', 'idp'),
      await vaultOpen(A, 'alice', 'github'),
      await vaultOpen(A, 'alice', 'google'),
      await vaultOpen(B, '5001', 'idp'),
    ];
    expect(github.issued.length).toBeGreaterThanOrEqual(4);
    const store = (await s.db.sql<{ blob: string }[]>`select concat_ws(' ', id, grant_id, uid, payload) as blob from oidc_store`).map((r) => r.blob).join('\n');
    const cols = (await s.db.sql<{ blob: string }[]>`select concat_ws(' ', access_token_sealed, refresh_token_sealed) as blob from credentials`)
      .map((r) => r.blob)
      .join('\n');
    const tenantsRows = JSON.stringify(await s.db.sql`select * from tenants where id in (${A.tenant.id}, ${B.tenant.id})`);
    const logs = lines.join('');
    for (const token of upstream) expect(token.length).toBeGreaterThan(10);
    expectNoSecrets(Object.fromEntries(upstream.map((t, i) => [`upstream token ${i + 1}`, t])), {
      'a tool result': results,
      'a log line': logs,
      'the AS store': store,
      'credentials (in clear)': cols,
      Redis: await s.redisValues(),
    });
    expectNoSecrets(
      { 'client secret a': 'gh-secret-a', 'client secret b': 'gh-secret-b', 'login client secret': 'secret-a' },
      { 'the tenants rows': tenantsRows, 'a log line': logs },
    );
  });
});
