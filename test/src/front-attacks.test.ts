import { createHash } from 'node:crypto';
import { request as httpRequest } from 'node:http';
import { REGISTRATIONS_PER_WINDOW, startApi, type RunningApi } from '@mcprt/api';
import { loadSigningKeys } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { oidcStoreRepository } from '@mcprt/db';
import { importJWK, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browse, CookieJar } from './harness/browser.js';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { localhostCertificate, startCimdOrigin } from './harness/cimd-server.js';
import { freePort } from './harness/free-port.js';
import { CLIENT_REDIRECT, signIn, tokenRequest as token } from './harness/oauth-client.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * The authorization server and the HTTP front, attacked the way an outside tester would: raw requests
 * against the real API (the tenant's own /token, /reg, /auth, discovery), real Postgres and Redis,
 * behind a simulated proxy (TRUST_PROXY=1: the proxy appends the address it saw to X-Forwarded-For).
 */
let s: Stack;
let a: Awaited<ReturnType<typeof startBuiltinTenant>>;
const tls = localhostCertificate();
let originA: Awaited<ReturnType<typeof startCimdOrigin>>;
let originB: Awaited<ReturnType<typeof startCimdOrigin>>;
const closers: (() => Promise<unknown>)[] = [];

beforeAll(async () => {
  originA = await startCimdOrigin(tls);
  originB = await startCimdOrigin(tls);
  s = await startStack({ label: 'front-attacks', env: { EGRESS_EXTRA_CA_PEM: tls.cert, TRUST_PROXY: 'true' } });
  a = await startBuiltinTenant(s, 'fa', ['whoami', 'echo']);
});

afterAll(async () => {
  await Promise.allSettled(closers.map((c) => c()));
  await Promise.allSettled([originA?.close(), originB?.close()]);
  await s?.close();
});

const verifier = 'v'.repeat(43);
const challenge = createHash('sha256').update(verifier).digest('base64url');

function authorizeUrl(issuer: string, params: Record<string, string>): URL {
  const url = new URL(`${issuer}/auth`);
  const all = { response_type: 'code', scope: 'tools:whoami', state: 'st', code_challenge: challenge, code_challenge_method: 'S256', ...params };
  for (const [k, v] of Object.entries(all)) url.searchParams.set(k, v);
  return url;
}

async function register(issuer: string, headers: Record<string, string> = {}, base = issuer): Promise<Response> {
  return fetch(`${base}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...headers },
    body: JSON.stringify({ redirect_uris: [CLIENT_REDIRECT], grant_types: ['authorization_code', 'refresh_token'], token_endpoint_auth_method: 'none' }),
  });
}

async function publicClient(issuer: string): Promise<string> {
  const res = await register(issuer);
  expect(res.status).toBe(201);
  return ((await res.json()) as { client_id: string }).client_id;
}

/** A fresh code for alice (login at the tenant's IdP, consent) and its redemption form. */
async function codeFor(clientId: string) {
  const { callback } = await browse(authorizeUrl(a.issuer, { client_id: clientId, redirect_uri: CLIENT_REDIRECT, resource: a.mcpUrl }), {
    account: 'alice',
    stopAt: CLIENT_REDIRECT,
  });
  const code = callback.searchParams.get('code')!;
  expect(code).toBeTruthy();
  return { grant_type: 'authorization_code', code, client_id: clientId, redirect_uri: CLIENT_REDIRECT, code_verifier: verifier, resource: a.mcpUrl };
}

/** A raw HTTP/1.1 request to the API's socket with whatever Host and headers the caller writes. */
function raw(
  path: string,
  headers: Record<string, string>,
  method = 'GET',
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  const u = new URL(s.config.PUBLIC_URL);
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: u.hostname, port: u.port, path, method, headers, setHost: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('one-time codes and refresh tokens under concurrency', () => {
  it('one authorization code redeemed 8 times at once → exactly one token set; the replays revoke the grant as a sequential replay does', async () => {
    const clientId = await publicClient(a.issuer);
    const form = await codeFor(clientId);
    const results = await Promise.all(Array.from({ length: 8 }, () => token(a.issuer, form)));
    const ok = results.filter((r) => r.status === 200);
    expect(ok, JSON.stringify(results.map((r) => r.status))).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) {
      expect(r.status).toBe(400);
      expect(r.body.error).toBe('invalid_grant');
    }
    // The replays revoked the grant: the one token set's refresh token is dead too.
    const refresh = await token(a.issuer, { grant_type: 'refresh_token', refresh_token: ok[0]!.body.refresh_token!, client_id: clientId });
    expect(refresh.status).toBe(400);
    expect(refresh.body.error).toBe('invalid_grant');
  });

  it('one refresh token used 8 times at once → exactly one success, the reuse is caught, and the grant is revoked (the winner’s new refresh token too)', async () => {
    const clientId = await publicClient(a.issuer);
    const first = await token(a.issuer, await codeFor(clientId));
    expect(first.status).toBe(200);
    const r1 = first.body.refresh_token!;
    const [row] = await s.db.sql<{ grant_id: string }[]>`select grant_id from oidc_store where tenant_id = ${a.tenant.id} and model = 'RefreshToken'
      and id = ${createHash('sha256').update(r1).digest('base64url')}`;
    expect(row?.grant_id).toBeTruthy();
    const results = await Promise.all(
      Array.from({ length: 8 }, () => token(a.issuer, { grant_type: 'refresh_token', refresh_token: r1, client_id: clientId })),
    );
    const ok = results.filter((r) => r.status === 200);
    expect(ok, JSON.stringify(results.map((r) => r.status))).toHaveLength(1);
    for (const r of results.filter((x) => x.status !== 200)) expect(r.body.error).toBe('invalid_grant');
    const next = await token(a.issuer, { grant_type: 'refresh_token', refresh_token: ok[0]!.body.refresh_token!, client_id: clientId });
    expect(next.status).toBe(400);
    expect(next.body.error).toBe('invalid_grant');
    // The grant itself is gone from the store (a refresh token the winner saved after the revocation refers to nothing).
    const grant = await s.db.sql`select 1 from oidc_store where tenant_id = ${a.tenant.id} and model = 'Grant' and id = ${row!.grant_id}`;
    expect(grant).toHaveLength(0);
  });
});

describe('dynamic registration limit (TRUST_PROXY=1)', () => {
  it('60 registrations with a new X-Forwarded-For each (the proxy appends the real address) → only the first 20 are 201', async () => {
    const t = await startBuiltinTenant(s, 'fa-dcr');
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      const res = await register(t.issuer, { 'x-forwarded-for': `198.51.100.${i}, 10.${i}.0.1, 203.0.113.7` });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses.filter((x) => x === 201)).toHaveLength(REGISTRATIONS_PER_WINDOW);
    expect(statuses.slice(REGISTRATIONS_PER_WINDOW).every((x) => x === 429)).toBe(true);
    // Another client address (what the proxy saw) has its own window.
    const other = await register(t.issuer, { 'x-forwarded-for': '198.51.100.1, 203.0.113.8' });
    expect(other.status).toBe(201);
  });

  it('60 registrations from one IPv6 /64 (a new address of the same network each), or one address written IPv4-mapped and plain → 20 in all, not 20 per address', async () => {
    const t = await startBuiltinTenant(s, 'fa-dcr6');
    const statuses: number[] = [];
    for (let i = 0; i < 60; i++) {
      // Any IPv6 host holds a /64: 2^64 source addresses, each a fresh window if the limit counts addresses.
      const address =
        i % 3 === 0 ? `2001:db8:5:6::${(i + 1).toString(16)}` : i % 3 === 1 ? `2001:0db8:0005:0006:${i.toString(16)}:0:0:1` : `2001:DB8:5:6:ffff::${i}`;
      const res = await register(t.issuer, { 'x-forwarded-for': address });
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses.filter((x) => x === 201)).toHaveLength(REGISTRATIONS_PER_WINDOW);
    // Another /64 has its own window.
    expect((await register(t.issuer, { 'x-forwarded-for': '2001:db8:5:7::1' })).status).toBe(201);
    // An IPv4 address is the same client whether the proxy writes it plain or IPv4-mapped.
    const v4: number[] = [];
    for (let i = 0; i < REGISTRATIONS_PER_WINDOW + 4; i++) {
      const res = await register(t.issuer, { 'x-forwarded-for': i % 2 === 0 ? '203.0.113.77' : '::ffff:203.0.113.77' });
      v4.push(res.status);
      await res.arrayBuffer();
    }
    expect(v4.filter((x) => x === 201)).toHaveLength(REGISTRATIONS_PER_WINDOW);
  });

  it('the limit is one for the cluster: two API replicas on the same Redis admit 20 in all, not 20 each', async () => {
    const t = await startBuiltinTenant(s, 'fa-dcr2');
    const port = await freePort();
    const second: RunningApi = await startApi({ ...s.config, PORT: port }, { migrate: false, reconciler: false });
    closers.push(() => second.stop());
    const secondBase = `http://127.0.0.1:${port}/t/${t.slug}`;
    const statuses: number[] = [];
    for (let i = 0; i < 2 * REGISTRATIONS_PER_WINDOW; i++) {
      const res = await register(t.issuer, { 'x-forwarded-for': '203.0.113.50' }, i % 2 === 0 ? t.issuer : secondBase);
      statuses.push(res.status);
      await res.arrayBuffer();
    }
    expect(statuses.filter((x) => x === 201)).toHaveLength(REGISTRATIONS_PER_WINDOW);
  });
});

describe('Client ID Metadata Documents', () => {
  it('a client_id on origin A served through a redirect to origin B → invalid_client; B is never asked', async () => {
    const moved = `${originA.origin}/clients/moved.json`;
    // The attacker's document on B claims A's URL as its client_id.
    const target = originB.publish('/clients/real.json', moved);
    originA.redirect('/clients/moved.json', target);
    const res = await fetch(authorizeUrl(a.issuer, { client_id: moved, redirect_uri: CLIENT_REDIRECT, resource: a.mcpUrl }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    expect(res.headers.get('location')).toBeNull();
    expect(await res.text()).toContain('invalid_client');
    expect(originB.fetches.get('/clients/real.json')).toBeUndefined();
  });

  it('a bad document (its client_id is not its URL) is fetched once per request, not twice', async () => {
    const url = originA.publish('/clients/liar.json', `${originA.origin}/clients/someone-else.json`);
    const res = await fetch(authorizeUrl(a.issuer, { client_id: url, redirect_uri: CLIENT_REDIRECT, resource: a.mcpUrl }), { redirect: 'manual' });
    expect(res.status).toBe(400);
    await res.arrayBuffer();
    expect(originA.fetches.get('/clients/liar.json')).toBe(1);
  });
});

describe('Host and X-Forwarded-Host never choose a URL; a foreign Host is refused (DNS rebinding)', () => {
  const publicHost = () => new URL(s.config.PUBLIC_URL).host;
  const discovery = () => `/.well-known/oauth-authorization-server/t/${a.slug}`;

  it('discovery, the MCP endpoint and the AS routes answer 421 to Host or X-Forwarded-Host evil.example', async () => {
    for (const path of [discovery(), `/t/${a.slug}/.well-known/openid-configuration`, `/t/${a.slug}/mcp`, `/t/${a.slug}/auth`, `/t/${a.slug}/jwks`]) {
      const foreign: Record<string, string>[] = [
        { host: 'evil.example' },
        { host: `evil.example:${new URL(s.config.PUBLIC_URL).port}` },
        { host: publicHost(), 'x-forwarded-host': 'evil.example' },
        { host: publicHost(), 'x-forwarded-host': `${publicHost()}, evil.example` },
      ];
      for (const headers of foreign) {
        const res = await raw(path, headers);
        expect(res.status, `${path} ${JSON.stringify(headers)}`).toBe(421);
        expect(res.body).not.toContain('evil.example/');
        expect(JSON.parse(res.body)).toMatchObject({ error: 'host_not_allowed' });
      }
    }
    // The probes answer any Host (load balancers and orchestrators probe by address).
    expect((await raw('/healthz', { host: '10.1.2.3:3000' })).status).toBe(200);
  });

  it('an absolute-form request target (GET http://evil.example/… HTTP/1.1) naming another host is 421 whatever Host says; naming ours, it is served as origin-form', async () => {
    const pub = new URL(s.config.PUBLIC_URL);
    for (const path of [discovery(), `/t/${a.slug}/mcp`, `/t/${a.slug}/jwks`, `/t/${a.slug}/v1/tool-calls`]) {
      for (const authority of ['http://evil.example', `http://evil.example:${pub.port}`, `https://evil.example`, `http://${pub.host}@evil.example`]) {
        for (const method of ['GET', 'POST']) {
          const res = await raw(
            `${authority}${path}`,
            { host: publicHost(), 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
            method,
          );
          expect(res.status, `${method} ${authority}${path}`).toBe(421);
          expect(JSON.parse(res.body)).toMatchObject({ error: 'host_not_allowed' });
        }
      }
    }
    // Our own host in absolute form is a valid HTTP/1.1 request: the same answer as origin-form, with our URLs.
    const own = await raw(`${s.config.PUBLIC_URL}${discovery()}`, { host: publicHost() });
    expect(own.status).toBe(200);
    expect((JSON.parse(own.body) as { token_endpoint: string }).token_endpoint).toBe(`${s.config.PUBLIC_URL}/t/${a.slug}/token`);
    const mcp = await raw(`${s.config.PUBLIC_URL}/t/${a.slug}/mcp`, { host: publicHost(), 'content-type': 'application/json' }, 'POST');
    expect(mcp.status).toBe(401); // no token: the ordinary challenge, not a 500
    // The probes answer any authority, as they answer any Host.
    expect((await raw('http://10.1.2.3:3000/healthz', { host: '10.1.2.3:3000' })).status).toBe(200);
  });

  it('every URL the AS publishes is PUBLIC_URL’s, whatever port, X-Forwarded-Proto or X-Forwarded-Host the request names', async () => {
    const pub = new URL(s.config.PUBLIC_URL);
    const variants: Record<string, string>[] = [
      { host: `${pub.hostname}:1` },
      { host: publicHost(), 'x-forwarded-proto': 'https', 'x-forwarded-host': `${pub.hostname}:8443` },
      { host: publicHost(), forwarded: 'host=evil.example;proto=https' },
    ];
    for (const headers of variants) {
      const res = await raw(discovery(), headers);
      expect(res.status, JSON.stringify(headers)).toBe(200);
      const m = JSON.parse(res.body) as Record<string, unknown>;
      for (const key of ['issuer', 'authorization_endpoint', 'token_endpoint', 'registration_endpoint', 'jwks_uri', 'end_session_endpoint']) {
        expect(String(m[key]), `${key} with ${JSON.stringify(headers)}`).toMatch(
          new RegExp(`^${s.config.PUBLIC_URL.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}/t/`),
        );
      }
    }
  });
});

describe('no page of the authorization server can be framed', () => {
  const framing = (h: Headers | Record<string, string | string[] | undefined>) => {
    const get = (n: string) => (h instanceof Headers ? h.get(n) : (h[n] as string | undefined)) ?? '';
    expect(get('x-frame-options')).toBe('DENY');
    expect(get('content-security-policy')).toContain("frame-ancestors 'none'");
  };

  it('the end-session confirmation page (oidc-provider’s logout form), its auto-submitting variant, its error page and ours carry frame-ancestors none and X-Frame-Options DENY', async () => {
    const clientId = await publicClient(a.issuer);
    const jar = new CookieJar();
    await browse(authorizeUrl(a.issuer, { client_id: clientId, redirect_uri: CLIENT_REDIRECT, resource: a.mcpUrl }), {
      account: 'alice',
      stopAt: CLIENT_REDIRECT,
      jar,
    });
    const end = new URL(`${a.issuer}/session/end`);
    const signedIn = await fetch(end, { headers: { cookie: jar.header(end) } });
    const page = await signedIn.text();
    expect(signedIn.status).toBe(200);
    expect(page).toContain('op.logoutForm');
    framing(signedIn.headers);
    // Ours, not the library's: no remote font, no request host in the text.
    expect(page).not.toContain('fonts.googleapis.com');
    // Without a session: oidc-provider's auto-submitting form.
    const anonymous = await fetch(end);
    expect(anonymous.headers.get('content-type')).toMatch(/html/);
    await anonymous.arrayBuffer();
    framing(anonymous.headers);
    // The provider's error page (rendered by our renderError) and one of our own pages.
    const error = await fetch(authorizeUrl(a.issuer, { client_id: 'no-such-client', redirect_uri: CLIENT_REDIRECT, resource: a.mcpUrl }), {
      redirect: 'manual',
    });
    expect(error.status).toBe(400);
    await error.arrayBuffer();
    framing(error.headers);
    const ours = await fetch(`${a.issuer}/interaction/nope`);
    expect(ours.headers.get('content-type')).toMatch(/html/);
    await ours.arrayBuffer();
    framing(ours.headers);
  });
});

describe('access token typ (RFC 9068)', () => {
  it('a token of the built-in AS re-signed with typ JWT, or no typ, is refused; at+jwt is accepted', async () => {
    const alice = await signIn(a.mcpUrl, 'alice');
    const real = alice.auth.stored!.access_token;
    expect(JSON.parse(Buffer.from(real.split('.')[0]!, 'base64url').toString())).toMatchObject({ typ: 'at+jwt' });
    const claims = JSON.parse(Buffer.from(real.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    const keys = await loadSigningKeys(a.tenant.id, oidcStoreRepository(s.db.db, a.tenant.id), parseKeyring(s.config.SEAL_KEYS));
    const key = await importJWK(keys.privateJwks[0]!, 'ES256');
    const kid = keys.privateJwks[0]!.kid!;
    const list = (t: string) =>
      s.post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, { authorization: `Bearer ${t}`, 'mcp-protocol-version': '2025-11-25' }, a.mcpUrl);
    for (const typ of ['JWT', undefined, 'jwt', 'id_token+jwt']) {
      const forged = await new SignJWT({ ...claims, jti: `typ-${String(typ)}` }).setProtectedHeader({ alg: 'ES256', kid, ...(typ ? { typ } : {}) }).sign(key);
      const res = await list(forged);
      expect(res.status, String(typ)).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('typ must be at+jwt');
    }
    for (const typ of ['at+jwt', 'application/at+jwt']) {
      const good = await new SignJWT({ ...claims, jti: `typ-${typ}` }).setProtectedHeader({ alg: 'ES256', kid, typ }).sign(key);
      expect((await list(good)).status, typ).toBe(200);
    }
    // External tenants' IdPs are not held to it: the stack's IdP tokens keep working.
    expect(
      (
        await s.post(
          { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
          { authorization: `Bearer ${await s.token('alice')}`, 'mcp-protocol-version': '2025-11-25' },
        )
      ).status,
    ).toBe(200);
  });
});

describe('request ids', () => {
  it('a client-chosen X-Request-Id is never an audit row’s (or a call’s) request_id; the server’s id is', async () => {
    const chosen = `client-chosen-${Date.now()}`;
    const res = await s.post(
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'echo', arguments: { message: 'rid' } } },
      { authorization: `Bearer ${await s.token('alice')}`, 'mcp-protocol-version': '2025-11-25', 'x-request-id': chosen },
    );
    expect(res.status).toBe(200);
    await res.text();
    const ours = res.headers.get('x-request-id')!;
    expect(ours).not.toBe(chosen);
    expect(ours).toMatch(/^[0-9a-f-]{36}$/);
    const audit = await s.db.sql`select request_id from audit_events where tenant_id = ${s.tenant.id} and request_id in (${chosen}, ${ours})`;
    expect(audit.length).toBeGreaterThan(0);
    expect(audit.every((r) => r.request_id === ours)).toBe(true);
    const calls = await s.db.sql`select request_id from tool_calls where tenant_id = ${s.tenant.id} and request_id = ${chosen}`;
    expect(calls).toHaveLength(0);
  });
});
