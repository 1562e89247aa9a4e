import { createHash } from 'node:crypto';
import { AuthServers } from '@mcprt/api';
import { loadSigningKeys } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { forTenant } from '@mcprt/calls';
import { oidcStoreRepository, tenantsRepository } from '@mcprt/db';
import { DEV_LOGIN_CLIENT, startDevIdp } from '@mcprt/dev-idp';
import { createEgress, egressFetch } from '@mcprt/egress';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { asRotateKey, clientCreate, devSeed, devToken, tenantSetIdp } from '@mcprt/cli';
import { browse, BrowseError, CookieJar } from './harness/browser.js';
import { localhostCertificate, startCimdOrigin } from './harness/cimd-server.js';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { signIn, tokenRequest as token } from './harness/oauth-client.js';
import { CLIENT_REDIRECT } from './harness/oauth-provider.js';
import { expectNoSecrets, captureLogs } from './harness/secret-scan.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * A tenant in `builtin` mode is its own OAuth authorization server
 * (oidc-provider under /t/{slug}), federating login to its IdP. The official MCP SDK client with its
 * OAuth support runs discovery → dynamic registration → authorize (login at the IdP, consent) →
 * token → tools/call, against the real API, worker, Postgres, Redis and two development IdPs.
 */

let s: Stack;
type BuiltinTenant = Awaited<ReturnType<typeof startBuiltinTenant>>;
const builtin: BuiltinTenant[] = [];
const REDIRECT = CLIENT_REDIRECT;

/** A built-in tenant on the stack beside its own (external) one, enabling whoami and echo. */
async function builtinTenant(label: string) {
  const entry = await startBuiltinTenant(s, label, ['whoami', 'echo']);
  builtin.push(entry);
  return entry;
}

let cimd: Awaited<ReturnType<typeof startCimdOrigin>> & { caPem: string };
// Every log line of the API and worker, at trace level: the tokens of these flows must not be in them.
const { log, lines } = captureLogs();

beforeAll(async () => {
  // An https origin on loopback (a self-signed localhost certificate) serving Client ID Metadata Documents.
  const tls = localhostCertificate();
  cimd = { caPem: tls.cert, ...(await startCimdOrigin(tls)) };
  s = await startStack({
    label: 'builtin-as',
    // The stack's own tenant takes its IdP's tokens: the page compares the two modes side by side.
    auth: 'external',
    log,
    // The API's egress trusts the test CA, so Client ID Metadata Documents can be fetched over https.
    env: { EGRESS_EXTRA_CA_PEM: cimd.caPem },
  });
  const a = await builtinTenant('a');
  // The operator's way: `IDP_CLIENT_SECRET=… pnpm cli tenant set-idp --slug … --client-id … --auth builtin`; it prints no secret.
  expect(a.setupOutput.join('\n')).not.toContain(a.loginSecret);
  await builtinTenant('b');
});

afterAll(async () => {
  await cimd?.close();
  await s?.close();
});

describe('built-in authorization server: discovery', () => {
  it('RFC 9728 names the tenant AS; RFC 8414 (path-inserted) and OIDC discovery advertise S256, CIMD and iss', async () => {
    const a = builtin[0]!;
    const prm = (await (await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${a.tenant.slug}/mcp`)).json()) as Record<string, unknown>;
    expect(prm.authorization_servers).toEqual([a.issuer]);
    expect(prm.resource).toBe(a.mcpUrl);
    for (const path of [
      `/.well-known/oauth-authorization-server/t/${a.tenant.slug}`,
      `/.well-known/openid-configuration/t/${a.tenant.slug}`,
      `/t/${a.tenant.slug}/.well-known/openid-configuration`,
    ]) {
      const res = await fetch(`${s.config.PUBLIC_URL}${path}`);
      expect(res.status, path).toBe(200);
      const m = (await res.json()) as Record<string, unknown>;
      expect(m.issuer).toBe(a.issuer);
      expect(m.authorization_endpoint).toBe(`${a.issuer}/auth`);
      expect(m.token_endpoint).toBe(`${a.issuer}/token`);
      expect(m.registration_endpoint).toBe(`${a.issuer}/reg`);
      expect(m.code_challenge_methods_supported).toEqual(['S256']);
      expect(m.client_id_metadata_document_supported).toBe(true);
      expect(m.authorization_response_iss_parameter_supported).toBe(true);
      expect(m.scopes_supported).toEqual(expect.arrayContaining(['tools:whoami', 'tools:echo']));
    }
    // An external tenant publishes its IdP, and has no AS of its own.
    const ext = (await (await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${s.tenant.slug}/mcp`)).json()) as Record<string, unknown>;
    expect(ext.authorization_servers).toEqual([s.idp.issuer]);
    expect((await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-authorization-server/t/${s.tenant.slug}`)).status).toBe(404);
    expect((await fetch(`${s.config.PUBLIC_URL}/t/${s.tenant.slug}/.well-known/openid-configuration`)).status).toBe(404);
  });
});

describe('built-in authorization server: the SDK client signs users in', () => {
  it('discovery → DCR → login at the IdP → consent → token → whoami answers alice; bob in parallel gets bob', async () => {
    const a = builtin[0]!;
    const [alice, bob] = await Promise.all([signIn(a.mcpUrl, 'alice', { connected: true }), signIn(a.mcpUrl, 'bob', { connected: true })]);
    expect(alice.callback.searchParams.get('iss')).toBe(a.issuer);
    const [ra, rb] = await Promise.all([alice.client.callTool({ name: 'whoami', arguments: {} }), bob.client.callTool({ name: 'whoami', arguments: {} })]);
    expect(ra.structuredContent).toMatchObject({ subject: 'alice', email: 'alice@example.test', issuer: a.idp.issuer, tenant: a.tenant.slug });
    expect(rb.structuredContent).toMatchObject({ subject: 'bob', email: 'bob@example.test', issuer: a.idp.issuer });
    // The access token: a short-lived JWT from the tenant's issuer, audience exactly the MCP URL.
    const payload = JSON.parse(Buffer.from(alice.auth.stored!.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.iss).toBe(a.issuer);
    expect(payload.aud).toBe(a.mcpUrl);
    expect((payload.exp as number) - (payload.iat as number)).toBeLessThanOrEqual(600);
    expect(String(payload.scope).split(' ')).toEqual(expect.arrayContaining(['tools:whoami']));
    expect(alice.auth.stored!.refresh_token).toBeTruthy();
    await Promise.all([alice.client.close(), bob.client.close()]);
  });

  it('upstream tokens are stored sealed; the AS store holds no code, token id or upstream token in clear', async () => {
    const a = builtin[0]!;
    const { client, auth, callback } = await signIn(a.mcpUrl, 'alice', { connected: true });
    await client.close();
    const code = callback.searchParams.get('code')!;
    const creds = await s.db.sql<{ access_token_sealed: string }[]>`
      select c.access_token_sealed from credentials c join users u on u.id = c.user_id
      where c.tenant_id = ${a.tenant.id} and u.subject = 'alice' and c.provider = 'idp'`;
    expect(creds).toHaveLength(1);
    const rows = await s.db.sql<
      { blob: string }[]
    >`select concat_ws(' ', model, id, grant_id, uid, payload) as blob from oidc_store where tenant_id = ${a.tenant.id}`;
    expect(rows.length).toBeGreaterThan(0);
    const all = rows.map((r) => r.blob).join('\n');
    expect(all).not.toContain(code);
    expect(all).not.toContain(auth.stored!.refresh_token!);
    expect(all).not.toContain(auth.client!.client_id);
    expect(all).not.toContain('alice');
    const keys = await s.db.sql<{ private_jwk_sealed: string }[]>`select private_jwk_sealed from tenant_signing_keys where tenant_id = ${a.tenant.id}`;
    expect(keys).toHaveLength(1);
    expect(keys[0]!.private_jwk_sealed).not.toContain('"d"');
  });

  it("a token of tenant A is refused at tenant B (and at the external tenant); B's own sign-in works side by side", async () => {
    const [a, b] = builtin as [(typeof builtin)[0], (typeof builtin)[0]];
    const alice = await signIn(a.mcpUrl, 'alice', { connected: true });
    const token = alice.auth.stored!.access_token;
    await alice.client.close();
    for (const url of [b.mcpUrl, s.mcpUrl]) {
      const res = await s.post(
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
        { authorization: `Bearer ${token}`, 'mcp-protocol-version': '2025-11-25' },
        url,
      );
      expect(res.status, url).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
    const bobAtB = await signIn(b.mcpUrl, 'bob', { connected: true });
    const r = await bobAtB.client.callTool({ name: 'whoami', arguments: {} });
    expect(r.structuredContent).toMatchObject({ subject: 'bob', issuer: b.idp.issuer, tenant: b.tenant.slug });
    await bobAtB.client.close();
  });
});

/** Follows an authorization request as alice up to the consent page, without submitting it. */
async function consentPageOf(url: URL): Promise<{ page: string; csp: string }> {
  const jar = new CookieJar();
  let next: URL = url;
  for (let i = 0; i < 15; i++) {
    const res = await fetch(next, { redirect: 'manual', headers: { cookie: jar.header(next) } });
    jar.store(next, res);
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      next = new URL(res.headers.get('location')!, next);
      continue;
    }
    const html = await res.text();
    if (html.includes('Development IdP')) {
      const post = await fetch(next, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: jar.header(next), 'content-type': 'application/x-www-form-urlencoded' },
        body: 'account=alice',
      });
      jar.store(next, post);
      next = new URL(post.headers.get('location')!, next);
      continue;
    }
    return { page: html, csp: res.headers.get('content-security-policy') ?? '' };
  }
  throw new Error('no consent page');
}

/** The stable error code of one of our HTML error pages. */
const errorCode = (html: string) => /data-error="([^"]+)"/.exec(html)?.[1];

/** A public client registered by DCR at tenant A, and the raw authorization request. */
async function register(issuer: string) {
  const res = await fetch(`${issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'Raw Client <b>x</b>',
      redirect_uris: [REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  expect(res.status).toBe(201);
  return ((await res.json()) as { client_id: string }).client_id;
}

const verifier = 'v'.repeat(43);
const challenge = createHash('sha256').update(verifier).digest('base64url');

function authorizeUrl(issuer: string, params: Record<string, string | undefined>): URL {
  const url = new URL(`${issuer}/auth`);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    scope: 'tools:whoami',
    state: 'st-1',
    code_challenge: challenge,
    code_challenge_method: 'S256',
    ...params,
  })) {
    if (v !== undefined) url.searchParams.set(k, v);
  }
  return url;
}

describe('built-in authorization server: refusals', () => {
  let a: (typeof builtin)[0];
  let clientId: string;
  beforeAll(async () => {
    a = builtin[0]!;
    clientId = await register(a.issuer);
  });
  const base = () => ({ client_id: clientId, redirect_uri: REDIRECT, resource: a.mcpUrl });

  it('a code flow without PKCE → invalid_request at the redirect URI, with iss', async () => {
    const { callback } = await browse(authorizeUrl(a.issuer, { ...base(), code_challenge: undefined, code_challenge_method: undefined }), {
      account: 'alice',
      stopAt: REDIRECT,
    });
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(callback.searchParams.get('error_description')).toMatch(/PKCE/);
    expect(callback.searchParams.get('iss')).toBe(a.issuer);
    expect(callback.searchParams.get('code')).toBeNull();
  });

  it('plain PKCE → invalid_request', async () => {
    const { callback } = await browse(authorizeUrl(a.issuer, { ...base(), code_challenge: verifier, code_challenge_method: 'plain' }), {
      account: 'alice',
      stopAt: REDIRECT,
    });
    expect(callback.searchParams.get('error')).toBe('invalid_request');
    expect(callback.searchParams.get('error_description')).toMatch(/code_challenge_method/);
  });

  it('a redirect URI that is not registered → 400 here, never a redirect (no open redirect)', async () => {
    for (const redirect of ['http://evil.example/cb', `${REDIRECT}/x`, `${REDIRECT}?x=1`]) {
      const res = await fetch(authorizeUrl(a.issuer, { ...base(), redirect_uri: redirect }), { redirect: 'manual' });
      expect(res.status, redirect).toBe(400);
      expect(res.headers.get('location')).toBeNull();
      expect(await res.text()).toMatch(/redirect_uri/);
    }
  });

  it('a missing or foreign resource → invalid_target', async () => {
    const b = builtin[1]!;
    for (const resource of [undefined, b.mcpUrl, `${a.mcpUrl}/x`, 'https://elsewhere.example/mcp']) {
      const { callback } = await browse(authorizeUrl(a.issuer, { ...base(), resource }), { account: 'alice', stopAt: REDIRECT });
      expect(callback.searchParams.get('error'), String(resource)).toBe('invalid_target');
    }
  });

  it('an unknown client → invalid_client at the token endpoint, 400 at authorize (no redirect)', async () => {
    const res = await fetch(authorizeUrl(a.issuer, { ...base(), client_id: 'no-such-client' }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    const t = await token(a.issuer, {
      grant_type: 'authorization_code',
      code: 'x',
      client_id: 'no-such-client',
      redirect_uri: REDIRECT,
      code_verifier: verifier,
    });
    expect(t.status).toBe(401);
    expect(t.body.error).toBe('invalid_client');
  });

  it('consent denied → access_denied at the redirect URI; consent POST without its CSRF token → 403 csrf_invalid', async () => {
    const denied = await browse(authorizeUrl(a.issuer, base()), { account: 'alice', stopAt: REDIRECT, consent: 'deny' });
    expect(denied.callback.searchParams.get('error')).toBe('access_denied');
    const err = await browse(authorizeUrl(a.issuer, base()), { account: 'alice', stopAt: REDIRECT, consent: 'omit-csrf' }).catch(
      (e: unknown) => e as BrowseError,
    );
    expect(err).toBeInstanceOf(BrowseError);
    expect((err as BrowseError).status).toBe(403);
    expect(errorCode((err as BrowseError).body)).toBe('csrf_invalid');
  });

  it('the consent page names the client and its redirect host, escaped, under a strict CSP', async () => {
    const url = authorizeUrl(a.issuer, base());
    const { page, csp } = await consentPageOf(url);
    expect(page).toContain('Raw Client &lt;b&gt;x&lt;/b&gt;');
    expect(page).not.toContain('<b>x</b>');
    expect(page).toContain('<span class="host">127.0.0.1:9</span>');
    expect(page).toContain('tools:whoami');
    expect(csp).toContain("default-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
    expect(csp).not.toContain('unsafe-inline');
  });

  it('a code with the wrong PKCE verifier → invalid_grant', async () => {
    const { callback } = await browse(authorizeUrl(a.issuer, base()), { account: 'alice', stopAt: REDIRECT });
    const t = await token(a.issuer, {
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_verifier: 'w'.repeat(43),
      resource: a.mcpUrl,
    });
    expect(t.status).toBe(400);
    expect(t.body.error).toBe('invalid_grant');
  });

  it('a code is redeemed once: the replay → invalid_grant, and the tokens of the first redemption are revoked', async () => {
    const { callback } = await browse(authorizeUrl(a.issuer, base()), { account: 'alice', stopAt: REDIRECT });
    const code = callback.searchParams.get('code')!;
    const redeem = { grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier, resource: a.mcpUrl };
    const first = await token(a.issuer, redeem);
    expect(first.status).toBe(200);
    const replay = await token(a.issuer, redeem);
    expect(replay.status).toBe(400);
    expect(replay.body.error).toBe('invalid_grant');
    const refresh = await token(a.issuer, { grant_type: 'refresh_token', refresh_token: first.body.refresh_token!, client_id: clientId });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it('refresh tokens rotate; reusing a rotated one → invalid_grant and the whole grant is revoked', async () => {
    const { callback } = await browse(authorizeUrl(a.issuer, base()), { account: 'alice', stopAt: REDIRECT });
    const t = await token(a.issuer, {
      grant_type: 'authorization_code',
      code: callback.searchParams.get('code')!,
      client_id: clientId,
      redirect_uri: REDIRECT,
      code_verifier: verifier,
      resource: a.mcpUrl,
    });
    expect(t.status).toBe(200);
    const r1 = t.body.refresh_token!;
    const rotated = await token(a.issuer, { grant_type: 'refresh_token', refresh_token: r1, client_id: clientId });
    expect(rotated.status).toBe(200);
    const r2 = rotated.body.refresh_token!;
    expect(r2).not.toBe(r1);
    const payload = JSON.parse(Buffer.from(rotated.body.access_token!.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.aud).toBe(a.mcpUrl);
    const reuse = await token(a.issuer, { grant_type: 'refresh_token', refresh_token: r1, client_id: clientId });
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
    const afterRevoke = await token(a.issuer, { grant_type: 'refresh_token', refresh_token: r2, client_id: clientId });
    expect(afterRevoke.status).toBe(400);
    expect(afterRevoke.body.error).toBe('invalid_grant');
  });

  it('expired authorization-server rows are swept', async () => {
    const { startOidcSweeper } = await import('@mcprt/api');
    const before = await s.db.sql<{ n: string }[]>`select count(*)::text as n from oidc_store where tenant_id = ${a.tenant.id}`;
    await s.db.sql`update oidc_store set expires_at = now() - interval '1 minute' where tenant_id = ${a.tenant.id} and model = 'Interaction'`;
    const expired = await s.db.sql<{ n: string }[]>`select count(*)::text as n from oidc_store where tenant_id = ${a.tenant.id} and model = 'Interaction'`;
    expect(Number(expired[0]!.n)).toBeGreaterThan(0);
    const sweeper = startOidcSweeper(s.db.db, s.api!.resources.log, 3_600_000);
    sweeper.stop();
    expect(await sweeper.sweep()).toBeGreaterThanOrEqual(Number(expired[0]!.n));
    const after = await s.db.sql<{ n: string }[]>`select count(*)::text as n from oidc_store where tenant_id = ${a.tenant.id}`;
    expect(Number(after[0]!.n)).toBe(Number(before[0]!.n) - Number(expired[0]!.n));
  });
});

describe('built-in authorization server: registrations', () => {
  it('dynamic registration over its rate limit → 429 rate_limited with Retry-After', async () => {
    const { REGISTRATIONS_PER_WINDOW } = await import('@mcprt/api');
    const c = await builtinTenant('c');
    const statuses: number[] = [];
    for (let i = 0; i < REGISTRATIONS_PER_WINDOW + 2; i++) {
      const res = await fetch(`${c.issuer}/reg`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ redirect_uris: [REDIRECT], token_endpoint_auth_method: 'none' }),
      });
      statuses.push(res.status);
      if (res.status === 429) {
        expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
        expect(await res.json()).toMatchObject({ error: 'rate_limited' });
      } else await res.arrayBuffer();
    }
    expect(statuses).toEqual([...Array<number>(REGISTRATIONS_PER_WINDOW).fill(201), 429, 429]);
  });

  it('a registration left unused past its expiry is gone: invalid_client, so the client re-registers', async () => {
    const a = builtin[0]!;
    const clientId = await register(a.issuer);
    const { createHash: hash } = await import('node:crypto');
    const id = hash('sha256').update(clientId).digest('base64url');
    const rows = await s.db.sql<
      { expires_at: string }[]
    >`select expires_at from oidc_store where tenant_id = ${a.tenant.id} and model = 'Client' and id = ${id}`;
    expect(rows).toHaveLength(1);
    expect(new Date(rows[0]!.expires_at).getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    await s.db.sql`update oidc_store set expires_at = now() - interval '1 second' where tenant_id = ${a.tenant.id} and model = 'Client' and id = ${id}`;
    const t = await token(a.issuer, { grant_type: 'authorization_code', code: 'x', client_id: clientId, redirect_uri: REDIRECT, code_verifier: verifier });
    expect(t.status).toBe(401);
    expect(t.body.error).toBe('invalid_client');
  });
});

describe('built-in authorization server: secrets stay secret', () => {
  it('the upstream token, codes and refresh tokens are in no log line, no AS row, no Redis value; the MCP client never sees the upstream token', async () => {
    const a = builtin[0]!;
    const { client, auth, callback } = await signIn(a.mcpUrl, 'alice', { connected: true });
    const res = await client.callTool({ name: 'whoami', arguments: {} });
    await client.close();
    const user = await s.db.sql<{ id: string }[]>`select id from users where tenant_id = ${a.tenant.id} and subject = 'alice'`;
    const cred = (await forTenant(s.db.db, a.tenant.id).credentials.get(user[0]!.id, 'idp'))!;
    const upstream = s.vault.openAccessToken(cred, cred.accessTokenSealed);
    expect(upstream.length).toBeGreaterThan(20);
    const secrets = { upstream, code: callback.searchParams.get('code')!, refresh: auth.stored!.refresh_token!, access: auth.stored!.access_token };
    // Responses: the tool result carries no token.
    expect(JSON.stringify(res)).not.toContain(upstream);
    // The AS store.
    const store = (await s.db.sql<{ blob: string }[]>`select concat_ws(' ', id, grant_id, uid, payload) as blob from oidc_store`).map((r) => r.blob).join('\n');
    expectNoSecrets(secrets, { 'a log line': lines, 'the AS store': store, Redis: await s.redisValues() });
  });
});

describe('built-in authorization server: federated login is bound to the browser that started it', () => {
  const loginCallback = (a: (typeof builtin)[0]) => `${a.issuer}/login/callback`;

  it('a callback whose upstream state was changed → 400 upstream_login_failed; nobody is signed in', async () => {
    const a = builtin[0]!;
    const clientId = await register(a.issuer);
    const err = await browse(authorizeUrl(a.issuer, { client_id: clientId, redirect_uri: REDIRECT, resource: a.mcpUrl }), {
      account: 'alice',
      stopAt: REDIRECT,
      rewrite: (u) => {
        if (!u.href.startsWith(loginCallback(a))) return u;
        u.searchParams.set('state', 'forged-state');
        return u;
      },
    }).catch((e: unknown) => e as BrowseError);
    expect(err).toBeInstanceOf(BrowseError);
    expect((err as BrowseError).status).toBe(400);
    expect(errorCode((err as BrowseError).body)).toBe('upstream_login_failed');
  });

  it('a callback arriving in another browser (no login cookie, no interaction cookie) → 400, the code is not redeemed', async () => {
    const a = builtin[0]!;
    const clientId = await register(a.issuer);
    let stolen: URL | undefined;
    await browse(authorizeUrl(a.issuer, { client_id: clientId, redirect_uri: REDIRECT, resource: a.mcpUrl }), {
      account: 'alice',
      stopAt: loginCallback(a),
    }).then((r) => (stolen = r.callback));
    expect(stolen?.searchParams.get('code')).toBeTruthy();
    const res = await fetch(stolen!, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('content-type')).toMatch(/^text\/html/);
    expect(errorCode(await res.text())).toBe('invalid_request');
  });

  it('a callback from a login this browser did not start (someone else\u2019s code in my session) → 400', async () => {
    const a = builtin[0]!;
    const clientId = await register(a.issuer);
    // The attacker runs a login to the callback and stops; the victim's browser gets the attacker's callback URL.
    const attacker = await browse(authorizeUrl(a.issuer, { client_id: clientId, redirect_uri: REDIRECT, resource: a.mcpUrl }), {
      account: 'bob',
      stopAt: loginCallback(a),
    });
    const err = await browse(authorizeUrl(a.issuer, { client_id: clientId, redirect_uri: REDIRECT, resource: a.mcpUrl }), {
      account: 'alice',
      stopAt: REDIRECT,
      rewrite: (u) => (u.href.startsWith(loginCallback(a)) ? attacker.callback : u),
    }).catch((e: unknown) => e as BrowseError);
    expect(err).toBeInstanceOf(BrowseError);
    expect((err as BrowseError).status).toBe(400);
    expect(errorCode((err as BrowseError).body)).toBe('upstream_login_failed');
  });
});

describe('built-in authorization server: scopes', () => {
  it('a token for whoami only gets the 403 step-up on echo; after consenting to more, echo works', async () => {
    const a = builtin[0]!;
    const clientId = await register(a.issuer);
    const jar = new CookieJar();
    const get = async (scope: string) => {
      const { callback } = await browse(authorizeUrl(a.issuer, { client_id: clientId, redirect_uri: REDIRECT, resource: a.mcpUrl, scope }), {
        account: 'alice',
        stopAt: REDIRECT,
        jar,
      });
      const t = await token(a.issuer, {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code')!,
        client_id: clientId,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        resource: a.mcpUrl,
      });
      expect(t.status).toBe(200);
      return t.body;
    };
    const call = (accessToken: string, name: string) =>
      s.post(
        { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name, arguments: name === 'echo' ? { message: 'hi-from-echo' } : {} } },
        { authorization: `Bearer ${accessToken}`, 'mcp-protocol-version': '2025-11-25' },
        a.mcpUrl,
      );
    const narrow = await get('tools:whoami');
    expect(narrow.scope!.split(' ')).toEqual(['tools:whoami']);
    const refused = await call(narrow.access_token!, 'echo');
    expect(refused.status).toBe(403);
    expect(refused.headers.get('www-authenticate')).toMatch(/error="insufficient_scope"/);
    expect(refused.headers.get('www-authenticate')).toMatch(/scope="tools:whoami tools:echo"/);
    // A client asking for a scope the tenant does not offer gets only what exists and was consented to.
    const wide = await get('tools:whoami tools:echo tools:web_search');
    expect(wide.scope!.split(' ').sort()).toEqual(['tools:echo', 'tools:whoami']);
    const ok = await call(wide.access_token!, 'echo');
    expect(ok.status).toBe(200);
    expect(JSON.stringify(await ok.json())).toContain('hi-from-echo');
  });
});

describe('built-in authorization server: the SDK client refreshes', () => {
  it('when its access token is refused, the SDK client refreshes (rotation) and the call goes through; the old refresh token is then dead', async () => {
    const a = builtin[0]!;
    const { client, auth } = await signIn(a.mcpUrl, 'bob', { connected: true });
    const before = { ...auth.stored! };
    // The access token "expired": the server refuses it with 401 invalid_token.
    auth.stored = { ...before, access_token: before.access_token.slice(0, -4) + 'AAAA' };
    const res = await client.callTool({ name: 'whoami', arguments: {} });
    expect(res.structuredContent).toMatchObject({ subject: 'bob' });
    expect(auth.stored.refresh_token).toBeTruthy();
    expect(auth.stored.refresh_token).not.toBe(before.refresh_token);
    expect(auth.stored.access_token).not.toBe(before.access_token);
    await client.close();
    const reuse = await token(a.issuer, { grant_type: 'refresh_token', refresh_token: before.refresh_token!, client_id: auth.client!.client_id });
    expect(reuse.status).toBe(400);
    expect(reuse.body.error).toBe('invalid_grant');
    // Reuse revoked the grant: the rotated refresh token the SDK holds is dead too.
    const rotated = await token(a.issuer, { grant_type: 'refresh_token', refresh_token: auth.stored.refresh_token!, client_id: auth.client!.client_id });
    expect(rotated.status).toBe(400);
    expect(rotated.body.error).toBe('invalid_grant');
  });
});

describe('built-in authorization server: signing key rotation', () => {
  it('`as rotate-key`: tokens of the old key keep working; tokens of the new key are accepted at once (unknown kid reloads the keys)', async () => {
    const a = builtin[0]!;
    const alice = await signIn(a.mcpUrl, 'alice', { connected: true });
    const oldToken = alice.auth.stored!.access_token;
    await alice.client.close();
    const out: string[] = [];
    const rotated = await asRotateKey({ db: s.db.db, config: s.config, out: (l) => out.push(l) }, { tenant: a.tenant.slug });
    expect(rotated.retired).toBe(1);
    expect(out.join('\n')).toContain(rotated.kid);
    const keys = await loadSigningKeys(a.tenant.id, oidcStoreRepository(s.db.db, a.tenant.id), parseKeyring(s.config.SEAL_KEYS));
    expect(keys.privateJwks.map((k) => k.kid)).toEqual([rotated.kid, expect.any(String)]);
    const listTools = (t: string) =>
      s.post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, { authorization: `Bearer ${t}`, 'mcp-protocol-version': '2025-11-25' }, a.mcpUrl);
    expect((await listTools(oldToken)).status).toBe(200);
    // A token signed with the new key, as any replica will sign within a minute.
    const claims = JSON.parse(Buffer.from(oldToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const newKey = await importJWK(keys.privateJwks[0]!, 'ES256');
    const fresh = await new SignJWT({ ...claims, jti: 'rotation-test' }).setProtectedHeader({ alg: 'ES256', kid: rotated.kid, typ: 'at+jwt' }).sign(newKey);
    expect((await listTools(fresh)).status).toBe(200);
    // A kid nobody has is still refused (and reloads at most once per cooldown).
    const forged = await new SignJWT({ ...claims }).setProtectedHeader({ alg: 'ES256', kid: 'no-such-kid', typ: 'at+jwt' }).sign(newKey);
    const refused = await listTools(forged);
    expect(refused.status).toBe(401);
    expect(refused.headers.get('www-authenticate')).toContain('invalid_token');
  });

  it('`as rotate-key` refuses an external tenant', async () => {
    await expect(asRotateKey({ db: s.db.db, config: s.config, out: () => undefined }, { tenant: s.tenant.slug })).rejects.toThrow(/not in builtin mode/);
  });
});

describe('tenant set-idp', () => {
  it('refuses a secret on the command line (it reads IDP_CLIENT_SECRET), a bad mode, scopes without openid; stores the secret sealed', async () => {
    const res = { db: s.db.db, config: s.config, out: () => undefined };
    await expect(tenantSetIdp(res, { slug: s.tenant.slug, clientId: 'x' })).rejects.toThrow(/IDP_CLIENT_SECRET/);
    await expect(tenantSetIdp(res, { slug: s.tenant.slug, clientId: 'x', clientSecret: 'y', auth: 'both' })).rejects.toThrow(/builtin or external/);
    await expect(tenantSetIdp(res, { slug: s.tenant.slug, clientId: 'x', clientSecret: 'y', scopes: 'email' })).rejects.toThrow(/openid/);
    const a = builtin[0]!;
    const row = (await tenantsRepository(s.db.db).byId(a.tenant.id))!;
    expect(row.authMode).toBe('builtin');
    expect(row.idpClientId).toBe('mcprt-as');
    expect(row.idpClientSecretSealed).not.toContain('dev-secret');
    expect(row.idpScopes).toEqual(['openid', 'email', 'profile', 'offline_access']);
  });
});

describe('built-in authorization server: Client ID Metadata Documents', () => {
  it('the SDK client signs in with a CIMD URL as its client_id (no registration); the document is fetched once through the egress and cached', async () => {
    const b = builtin[1]!;
    const url = cimd.publish('/clients/sdk.json');
    const regsBefore = (await s.db.sql<{ n: string }[]>`select count(*)::text as n from oidc_store where tenant_id = ${b.tenant.id} and model = 'Client'`)[0]!
      .n;
    const first = await signIn(b.mcpUrl, 'alice', { clientMetadataUrl: url, connected: true });
    expect(first.auth.client?.client_id).toBe(url);
    const res = await first.client.callTool({ name: 'whoami', arguments: {} });
    expect(res.structuredContent).toMatchObject({ subject: 'alice', issuer: b.idp.issuer });
    await first.client.close();
    const second = await signIn(b.mcpUrl, 'bob', { clientMetadataUrl: url, connected: true });
    await second.client.close();
    const payload = JSON.parse(Buffer.from(second.auth.stored!.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.client_id).toBe(url);
    expect(cimd.fetches.get('/clients/sdk.json')).toBe(1);
    const regsAfter = (await s.db.sql<{ n: string }[]>`select count(*)::text as n from oidc_store where tenant_id = ${b.tenant.id} and model = 'Client'`)[0]!.n;
    expect(regsAfter).toBe(regsBefore);
  });

  it('the consent page shows the CIMD client by its document name and its redirect host', async () => {
    const b = builtin[1]!;
    const url = cimd.publish('/clients/consent.json');
    const { page } = await consentPageOf(authorizeUrl(b.issuer, { client_id: url, redirect_uri: REDIRECT, resource: b.mcpUrl }));
    expect(page).toContain('<strong>CIMD Test Client</strong>');
    expect(page).toContain('<span class="host">127.0.0.1:9</span>');
    expect(cimd.fetches.get('/clients/consent.json')).toBe(1);
  });

  it('a document whose client_id is not its own URL → invalid_client, 400 here (no redirect)', async () => {
    const b = builtin[1]!;
    const url = cimd.publish('/clients/liar.json', `${cimd.origin}/clients/someone-else.json`);
    const res = await fetch(authorizeUrl(b.issuer, { client_id: url, redirect_uri: REDIRECT, resource: b.mcpUrl }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('invalid_client');
    expect(cimd.fetches.get('/clients/liar.json')).toBeGreaterThanOrEqual(1);
  });

  it('a document at a private address is never fetched when private egress is off (production)', async () => {
    const b = builtin[1]!;
    const url = cimd.publish('/clients/private.json');
    const egress = createEgress({ allowPrivate: false, extraCaPem: cimd.caPem });
    const servers = new AuthServers({
      publicUrl: s.config.PUBLIC_URL,
      db: s.db.db,
      keyring: parseKeyring(s.config.SEAL_KEYS),
      registry: s.api!.resources.registry,
      log: s.api!.resources.log,
      fetch: egressFetch(egress, 'the authorization server'),
      idpFetch: egressFetch(egress, 'the enterprise IdP'),
      redis: s.api!.resources.redis,
      keys: s.api!.resources.keys,
    });
    try {
      const { provider } = await servers.get(b.tenant);
      await expect(provider.Client.find(url)).rejects.toThrow(/client_id metadata document fetch failed|invalid_client/);
      expect(cimd.fetches.get('/clients/private.json')).toBeUndefined();
    } finally {
      await egress.close();
    }
  });
});

describe('built-in authorization server: more refusals', () => {
  it('an expired token of the tenant\'s own AS → 401 invalid_token "token expired"', async () => {
    const a = builtin[0]!;
    const alice = await signIn(a.mcpUrl, 'alice', { connected: true });
    await alice.client.close();
    const claims = JSON.parse(Buffer.from(alice.auth.stored!.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const keys = await loadSigningKeys(a.tenant.id, oidcStoreRepository(s.db.db, a.tenant.id), parseKeyring(s.config.SEAL_KEYS));
    const expired = await new SignJWT({ ...claims, iat: Math.floor(Date.now() / 1000) - 1200, exp: Math.floor(Date.now() / 1000) - 600 })
      .setProtectedHeader({ alg: 'ES256', kid: keys.privateJwks[0]!.kid!, typ: 'at+jwt' })
      .sign(await importJWK(keys.privateJwks[0]!, 'ES256'));
    const res = await s.post(
      { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
      { authorization: `Bearer ${expired}`, 'mcp-protocol-version': '2025-11-25' },
      a.mcpUrl,
    );
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toMatch(/error="invalid_token", error_description="token expired"/);
  });

  it('logout with an unregistered post_logout_redirect_uri is not an open redirect', async () => {
    const a = builtin[0]!;
    const url = new URL(`${a.issuer}/session/end`);
    url.searchParams.set('post_logout_redirect_uri', 'https://evil.example/');
    url.searchParams.set('client_id', await register(a.issuer));
    const res = await fetch(url, { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
  });

  it('an external tenant has no authorization server: its /t/{slug}/auth, /token, /reg are 404', async () => {
    for (const path of ['auth', 'token', 'reg', 'jwks']) {
      const res = await fetch(`${s.config.PUBLIC_URL}/t/${s.tenant.slug}/${path}`, {
        method: path === 'auth' || path === 'jwks' ? 'GET' : 'POST',
        redirect: 'manual',
      });
      expect(res.status, path).toBe(404);
    }
  });
});

describe('the quick start signs in for real (pnpm start: dev seed --auth builtin, dev IdP --login-redirect)', () => {
  it('dev seed --auth builtin makes the tenant its own AS; the SDK client signs alice in; dev token still works for the benchmark', async () => {
    const slug = `${s.ns.slug}-dev`.slice(0, 63);
    const idp = await startDevIdp({ port: 0, loginClients: [{ ...DEV_LOGIN_CLIENT, redirectUris: [`${s.config.PUBLIC_URL}/t/${slug}/login/callback`] }] });
    s.addCleanup(() => idp.close());
    const res = { db: s.db.db, config: s.config, out: () => undefined };
    await devSeed(res, { idp: idp.issuer, slug });
    const seeded = await devSeed(res, { idp: idp.issuer, slug, auth: 'builtin' });
    expect(seeded.tenant.authMode).toBe('builtin');
    const mcpUrl = `${s.config.PUBLIC_URL}/t/${slug}/mcp`;
    // Any OAuth-capable MCP client, nothing configured but the URL.
    const alice = await signIn(mcpUrl, 'alice', { connected: true });
    expect((await alice.client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ subject: 'alice', issuer: idp.issuer });
    await alice.client.close();
    // dev token: a token as the tenant's AS would issue it, and the upstream token stored.
    const t = await devToken({ ...res, err: () => undefined }, { tenant: slug, user: 'bob' });
    const claims = JSON.parse(Buffer.from(t.accessToken.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(claims).toMatchObject({ iss: `${s.config.PUBLIC_URL}/t/${slug}`, aud: mcpUrl, sub: t.userId });
    const client = await s.client(t.accessToken, { url: mcpUrl });
    expect((await client.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ subject: 'bob' });
  });
});

describe('pre-registered clients (pnpm cli client create)', () => {
  it('a public and a confidential pre-registered client complete the code flow; they never expire; a wrong secret → invalid_client', async () => {
    const a = builtin[0]!;
    const res = { db: s.db.db, config: s.config, out: () => undefined };
    await expect(clientCreate(res, { tenant: a.tenant.slug, name: 'x', redirectUris: ['http://evil.example/cb'] })).rejects.toThrow(
      /https, or http on a loopback/,
    );
    await expect(clientCreate(res, { tenant: s.tenant.slug, name: 'x', redirectUris: [REDIRECT] })).rejects.toThrow(/not in builtin mode/);
    const pub = await clientCreate(res, { tenant: a.tenant.slug, name: 'Operator Public', redirectUris: [REDIRECT] });
    const conf = await clientCreate(res, { tenant: a.tenant.slug, name: 'Operator Confidential', redirectUris: [REDIRECT], confidential: true });
    for (const c of [pub, conf]) {
      const { callback } = await browse(authorizeUrl(a.issuer, { client_id: c.clientId, redirect_uri: REDIRECT, resource: a.mcpUrl }), {
        account: 'alice',
        stopAt: REDIRECT,
      });
      const form = {
        grant_type: 'authorization_code',
        code: callback.searchParams.get('code')!,
        redirect_uri: REDIRECT,
        code_verifier: verifier,
        resource: a.mcpUrl,
      };
      const headers: Record<string, string> = { 'content-type': 'application/x-www-form-urlencoded' };
      if (c.clientSecret) headers.authorization = `Basic ${Buffer.from(`${c.clientId}:${c.clientSecret}`).toString('base64')}`;
      const body = new URLSearchParams(c.clientSecret ? form : { ...form, client_id: c.clientId }).toString();
      const t = await fetch(`${a.issuer}/token`, { method: 'POST', headers, body });
      expect(t.status, c.clientId).toBe(200);
      const rows = await s.db.sql<{ expires_at: string | null; payload: string }[]>`
        select expires_at, payload from oidc_store where tenant_id = ${a.tenant.id} and model = 'Client' and id = ${createHash('sha256').update(c.clientId).digest('base64url')}`;
      expect(rows[0]!.expires_at).toBeNull();
      if (c.clientSecret) expect(rows[0]!.payload).not.toContain(c.clientSecret);
    }
    const wrong = await fetch(`${a.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: `Basic ${Buffer.from(`${conf.clientId}:nope`).toString('base64')}` },
      body: new URLSearchParams({ grant_type: 'authorization_code', code: 'x', redirect_uri: REDIRECT, code_verifier: verifier }).toString(),
    });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { error: string }).error).toBe('invalid_client');
  });
});

describe('the account page (/t/{slug}/account)', () => {
  it("lists the user's grants and revokes one (CSRF-protected); the revoked client's refresh token is dead; another user's grant is not found", async () => {
    const a = builtin[0]!;
    const accountUrl = new URL(`${a.issuer}/account`);
    const alice = await signIn(a.mcpUrl, 'alice', { connected: true });
    await alice.client.close();
    const bob = await signIn(a.mcpUrl, 'bob', { connected: true });
    await bob.client.close();
    const anonymous = await fetch(accountUrl);
    expect(anonymous.status).toBe(200);
    expect(await anonymous.text()).toContain('You are not signed in here');
    const view = async (jar: CookieJar) => {
      const res = await fetch(accountUrl, { headers: { cookie: jar.header(accountUrl) } });
      jar.store(accountUrl, res);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      return res.text();
    };
    const html = await view(alice.jar);
    expect(html).toContain('<strong>SDK Test Client</strong>');
    expect(html).toContain('<code>tools:whoami</code>');
    const grantOf = (page: string, clientId: string) =>
      new RegExp(`${clientId.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}</span>[\\s\\S]*?name="grant" value="([^"]+)"`).exec(page)?.[1];
    const aliceGrant = grantOf(html, alice.auth.client!.client_id)!;
    expect(aliceGrant).toBeTruthy();
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const revokeUrl = new URL(`${a.issuer}/account/revoke`);
    const post = (jar: CookieJar, form: Record<string, string>) =>
      fetch(revokeUrl, {
        method: 'POST',
        redirect: 'manual',
        headers: { cookie: jar.header(revokeUrl), 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form).toString(),
      });
    const noCsrf = await post(alice.jar, { grant: aliceGrant });
    expect(noCsrf.status).toBe(403);
    expect(errorCode(await noCsrf.text())).toBe('csrf_invalid');
    // Bob's session cannot revoke alice's grant (it is not his): 404, like a missing one.
    const bobHtml = await view(bob.jar);
    const bobCsrf = /name="csrf" value="([^"]+)"/.exec(bobHtml)![1]!;
    const foreign = await post(bob.jar, { grant: aliceGrant, csrf: bobCsrf });
    expect(foreign.status).toBe(404);
    const ok = await post(alice.jar, { grant: aliceGrant, csrf });
    expect(ok.status).toBe(303);
    expect(ok.headers.get('location')).toBe(`/t/${a.tenant.slug}/account`);
    const refresh = await token(a.issuer, {
      grant_type: 'refresh_token',
      refresh_token: alice.auth.stored!.refresh_token!,
      client_id: alice.auth.client!.client_id,
    });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
    expect(grantOf(await view(alice.jar), alice.auth.client!.client_id)).toBeUndefined();
    // Bob's grant is untouched.
    const bobRefresh = await token(a.issuer, {
      grant_type: 'refresh_token',
      refresh_token: bob.auth.stored!.refresh_token!,
      client_id: bob.auth.client!.client_id,
    });
    expect(bobRefresh.status).toBe(200);
  });
});
