import { randomBytes } from 'node:crypto';
import { forTenant } from '@mcprt/calls';
import { apiKeysRepository, oidcStoreRepository, tenantsRepository, type User } from '@mcprt/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerClient, userToken } from './harness/as-token.js';
import { CookieJar } from './harness/browser.js';
import { deleteKeys, openRedis, scanKeys } from './harness/redis.js';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { createKey, Operator } from './harness/operator.js';
import { ALL_SCOPES, startStack, type Stack } from './harness/stack.js';
import { parseApiKey } from '@mcprt/identity';

/**
 * The admin console over plain HTTP (no browser): sign-in with an admin-scoped API key, every page,
 * every action, and the attacks — another tenant's call, user, grant and key by URL and by form,
 * missing and wrong CSRF tokens, an end user's token or cookie instead of a session, a revoked key's
 * session, and tenant A's session cookie at tenant B. Real API, Postgres, Redis and oidc-provider.
 */

type B = Awaited<ReturnType<typeof startBuiltinTenant>>;
let s: Stack;
let b: B;
let keyA: { id: string; key: string };
let keyB: { id: string; key: string };
let aliceA: User;
let aliceB: User;
let aliceTokenA: string;
const callId = () => `call_${randomBytes(16).toString('base64url').slice(0, 22)}`;

async function insertCall(tenantId: string, userId: string, status = 'queued'): Promise<string> {
  const id = callId();
  await s.db.sql`insert into tool_calls (id, tenant_id, user_id, tool, arguments, status)
    values (${id}, ${tenantId}, ${userId}, 'echo', '{"text":"hi"}'::jsonb, ${status}::tool_call_status)`;
  return id;
}
const statusOf = async (id: string) => ((await s.db.sql`select status from tool_calls where id = ${id}`)[0]?.status as string | undefined) ?? 'missing';
const grantIdsOf = async (tenantId: string) => (await oidcStoreRepository(s.db.db, tenantId).ofModel('Grant', 50)).map((r) => r.id);

async function signedIn(slug: string, key: string): Promise<Operator> {
  const op = new Operator(s.config.PUBLIC_URL, slug);
  const res = await op.signIn(key);
  expect(res.status).toBe(303);
  expect(res.headers.get('location')).toBe(`/t/${slug}/admin/calls`);
  await op.page('/calls');
  return op;
}

beforeAll(async () => {
  s = await startStack({ label: 'console-http', worker: 'none' });
  b = await startBuiltinTenant(s, 'b', ['echo']);
  keyA = await createKey(s.db.db, s.tenant.id, ['admin']);
  keyB = await createKey(s.db.db, b.tenant.id, ['admin']);
  // A real grant in each tenant: alice signs in through each authorization server and allows a client.
  const clientA = await registerClient(s.issuer, 'console-app-a');
  aliceTokenA = (await userToken({ issuer: s.issuer, mcpUrl: s.mcpUrl }, { clientId: clientA, account: 'alice', scope: ALL_SCOPES })).accessToken;
  const clientB = await registerClient(b.issuer, 'console-app-b');
  await userToken({ issuer: b.issuer, mcpUrl: b.mcpUrl }, { clientId: clientB, account: 'alice', scope: 'tools:echo' });
  aliceA = (await s.scope.users.bySubject(s.idp.issuer, 'alice'))!;
  aliceB = (await forTenant(s.db.db, b.tenant.id).users.bySubject(b.idp.issuer, 'alice'))!;
}, 120_000);
afterAll(() => s?.close());

describe('operator sign-in', () => {
  it('exchanges an admin key for a strict, path-scoped session cookie; the key is in no cookie', async () => {
    const op = new Operator(s.config.PUBLIC_URL, s.slug);
    const res = await op.signIn(keyA.key);
    expect(res.status).toBe(303);
    const cookie = op.signInCookies.find((c) => c.startsWith(`mcprt_op_${s.slug}=`))!;
    expect(cookie).toMatch(/path=\/t\/[^;]+\/admin/i);
    expect(cookie).toMatch(/httponly/i);
    expect(cookie).toMatch(/samesite=strict/i);
    expect(op.signInCookies.join('\n')).not.toContain(parseApiKey(keyA.key)!.secret);
    const audit = await s.db.sql`select decision from audit_events where tenant_id = ${s.tenant.id} and action = 'api_key.console_sign_in'`;
    expect(audit.map((r) => r.decision)).toContain('allow');
  });

  it('refuses an unknown key, a key without admin, a revoked key, another tenant key, and a form without its CSRF token', async () => {
    const readOnly = await createKey(s.db.db, s.tenant.id, ['calls:read', 'audit:read']);
    const revoked = await createKey(s.db.db, s.tenant.id, ['admin']);
    await apiKeysRepository(s.db.db, s.tenant.id).revoke(revoked.id);
    for (const key of ['nope', `mcprt_ak_${'a'.repeat(18)}_${'x'.repeat(43)}`, readOnly.key, revoked.key, keyB.key]) {
      const op = new Operator(s.config.PUBLIC_URL, s.slug);
      const res = await op.signIn(key);
      expect(res.status, key).toBe(401);
      expect(await res.text()).toContain('data-error="operator_sign_in_failed"');
      expect(op.signInCookies.some((c) => c.startsWith(`mcprt_op_${s.slug}=`))).toBe(false);
    }
    const noCsrf = new Operator(s.config.PUBLIC_URL, s.slug);
    expect((await noCsrf.signIn(keyA.key, { csrf: null })).status).toBe(403);
  });

  it('failed sign-ins are limited per tenant and address: after 10 a minute, 429 with Retry-After even for a right key; other tenants unaffected', async () => {
    const redis = openRedis(s.config);
    const window = await scanKeys(redis, `${s.config.QUEUE_PREFIX}:rl-console-sign-in:*`);
    await deleteKeys(redis, window); // the earlier test's failures count too: start from an empty window
    try {
      for (let i = 0; i < 10; i++) expect((await new Operator(s.config.PUBLIC_URL, s.slug).signIn(`wrong-${i}`)).status).toBe(401);
      const eleventh = await new Operator(s.config.PUBLIC_URL, s.slug).signIn('wrong-11');
      expect(eleventh.status).toBe(429);
      const right = await new Operator(s.config.PUBLIC_URL, s.slug).signIn(keyA.key);
      expect(right.status).toBe(429);
      expect(Number(right.headers.get('retry-after'))).toBeGreaterThan(0);
      expect(await right.text()).toContain('data-error="rate_limited"');
      // Tenant B's console, same address: its own window.
      expect((await new Operator(s.config.PUBLIC_URL, b.slug).signIn(keyB.key)).status).toBe(303);
    } finally {
      await deleteKeys(redis, await scanKeys(redis, `${s.config.QUEUE_PREFIX}:rl-console-sign-in:*`));
      await redis.quit();
    }
    expect((await new Operator(s.config.PUBLIC_URL, s.slug).signIn(keyA.key)).status).toBe(303);
  });

  it('every page answers with the strict page headers and shows only this tenant', async () => {
    const callA = await insertCall(s.tenant.id, aliceA.id);
    const callB = await insertCall(b.tenant.id, aliceB.id);
    const op = await signedIn(s.slug, keyA.key);
    for (const path of ['/calls', `/calls/${callA}`, '/approvals', '/audit', '/users', '/clients', '/settings', '/keys', '/queue']) {
      const res = await op.get(path);
      expect(res.status, path).toBe(200);
      expect(res.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect(res.headers.get('content-security-policy')).toContain("frame-ancestors 'none'");
      expect(res.headers.get('x-frame-options')).toBe('DENY');
      expect(res.headers.get('cache-control')).toBe('no-store');
      const html = await res.text();
      expect(html, path).not.toContain(callB);
      expect(html, path).not.toContain(aliceB.id);
      expect(html, path).not.toContain(keyB.id);
    }
    expect(await op.page('/calls')).toContain(callA);
    expect(await op.page('/users')).toContain(aliceA.id);
    expect(await op.page('/clients')).toContain('console-app-a');
    expect(await op.page('/clients')).not.toContain('console-app-b');
    const queue = await op.page('/queue');
    expect(queue).toMatch(/data-queue="waiting">\d+</);
    expect(queue).toMatch(/data-status="queued">queued<\/span><\/td><td>\d+</);
  });
});

describe('isolation: an operator of tenant A cannot see or act on tenant B', () => {
  it('by URL and by form: B call, user, grant and key are not found, and nothing of B changes', async () => {
    const callB = await insertCall(b.tenant.id, aliceB.id);
    const grantsB = await grantIdsOf(b.tenant.id);
    expect(grantsB.length).toBe(1);
    const opB = await signedIn(b.slug, keyB.key);
    const grantB = /name="grant" value="([^"]+)"/.exec(await opB.page('/clients'))![1]!;
    await s.vault.store(forTenant(s.db.db, b.tenant.id), aliceB.id, 'github', { accessToken: 'gho_b', scopes: ['repo'] });
    const op = await signedIn(s.slug, keyA.key);

    expect((await op.get(`/calls/${callB}`)).status).toBe(404);
    expect((await op.post(`/calls/${callB}/cancel`, {})).status).toBe(404);
    expect((await op.post('/clients/revoke', { grant: grantB })).status).toBe(404);
    expect((await op.post('/keys/revoke', { id: keyB.id })).status).toBe(404);
    expect((await op.post('/users/credentials/revoke', { user: aliceB.id, provider: 'github' })).status).toBe(404);
    expect((await op.post('/users/credentials/reauth', { user: aliceB.id, provider: 'github' })).status).toBe(404);
    expect(await op.page(`/calls?user=${aliceB.id}`)).not.toContain(callB);

    expect(await statusOf(callB)).toBe('queued');
    expect(await grantIdsOf(b.tenant.id)).toEqual(grantsB);
    expect((await apiKeysRepository(s.db.db, b.tenant.id).byId(keyB.id))!.revokedAt).toBeNull();
    expect((await forTenant(s.db.db, b.tenant.id).credentials.get(aliceB.id, 'github'))!.status).toBe('active');
  });

  it("tenant A's session cookie is useless at tenant B (replayed under either name), and B's at A", async () => {
    const op = await signedIn(s.slug, keyA.key);
    const pairs = op.signInCookies.map((c) => c.split(';', 1)[0]!);
    const asB = pairs.map((p) => p.replace(`mcprt_op_${s.slug}`, `mcprt_op_${b.slug}`)).join('; ');
    const atB = new Operator(s.config.PUBLIC_URL, b.slug);
    for (const cookie of [pairs.join('; '), asB]) {
      const res = await atB.get('/calls', { cookie });
      expect(res.status).toBe(303);
      expect(res.headers.get('location')).toBe(`/t/${b.slug}/admin/login`);
      const post = await atB.post('/keys/revoke', { id: keyB.id }, { csrf: op.csrf!, headers: { cookie } });
      expect(post.status).toBe(401);
    }
    expect((await apiKeysRepository(s.db.db, b.tenant.id).byId(keyB.id))!.revokedAt).toBeNull();
  });

  it("an end user's access token or authorization-server cookie is not an operator session; neither is the API key as a bearer", async () => {
    const jar = new CookieJar();
    const client = await registerClient(s.issuer, 'console-enduser');
    await userToken({ issuer: s.issuer, mcpUrl: s.mcpUrl }, { clientId: client, account: 'alice', scope: ALL_SCOPES, jar });
    const url = new URL(`${s.config.PUBLIC_URL}/t/${s.slug}/admin/calls`);
    const tries: Record<string, string>[] = [{ authorization: `Bearer ${aliceTokenA}` }, { cookie: jar.header(url) }, { authorization: `Bearer ${keyA.key}` }];
    for (const headers of tries) {
      const res = await fetch(url, { redirect: 'manual', headers });
      expect(res.status).toBe(303);
      const post = await fetch(new URL(`${url.href}/x/cancel`), { method: 'POST', redirect: 'manual', headers });
      expect(post.status).toBe(401);
    }
    const call = await insertCall(s.tenant.id, aliceA.id);
    const res = await fetch(new URL(`${s.config.PUBLIC_URL}/t/${s.slug}/admin/calls/${call}/cancel`), {
      method: 'POST',
      redirect: 'manual',
      headers: { authorization: `Bearer ${keyA.key}`, cookie: jar.header(url), 'content-type': 'application/x-www-form-urlencoded' },
      body: 'csrf=x',
    });
    expect(res.status).toBe(401);
    expect(await statusOf(call)).toBe('queued');
  });
});

describe('CSRF, revocation and sign-out', () => {
  it('a form without its token, with a wrong one, or with another session token is refused and changes nothing', async () => {
    const call = await insertCall(s.tenant.id, aliceA.id);
    const op = await signedIn(s.slug, keyA.key);
    const other = await signedIn(s.slug, keyA.key);
    for (const csrf of [null, '', 'x'.repeat(43), other.csrf!]) {
      const res = await op.post(`/calls/${call}/cancel`, {}, { csrf });
      expect(res.status, String(csrf)).toBe(403);
      expect(await res.text()).toContain('data-error="csrf_invalid"');
    }
    expect(await statusOf(call)).toBe('queued');
  });

  it('revoking a key ends its sessions at once; signing out ends the session; the old cookie opens nothing', async () => {
    const second = await createKey(s.db.db, s.tenant.id, ['admin']);
    const victim = await signedIn(s.slug, second.key);
    const op = await signedIn(s.slug, keyA.key);
    await op.page('/keys');
    expect((await op.post('/keys/revoke', { id: second.id })).status).toBe(303);
    expect((await victim.get('/calls')).status).toBe(303);
    expect((await victim.post('/keys/revoke', { id: keyA.id })).status).toBe(401);
    expect((await apiKeysRepository(s.db.db, s.tenant.id).byId(keyA.id))!.revokedAt).toBeNull();

    const cookie = op.signInCookies.map((c) => c.split(';', 1)[0]).join('; ');
    expect((await op.post('/logout', {})).status).toBe(303);
    const after = await op.get('/calls', { cookie });
    expect(after.status).toBe(303);
    expect(after.headers.get('location')).toBe(`/t/${s.slug}/admin/login`);
  });
});

describe('actions', () => {
  it('cancel a call through the call engine, audited with the key id', async () => {
    const call = await insertCall(s.tenant.id, aliceA.id);
    const op = await signedIn(s.slug, keyA.key);
    expect(await op.page(`/calls/${call}`)).toContain('Cancel this call');
    const res = await op.post(`/calls/${call}/cancel`, {});
    expect(res.status).toBe(303);
    expect(await statusOf(call)).toBe('cancelled');
    const trail = await op.page(`/calls/${call}`);
    expect(trail).toContain('tool_call.cancelled');
    expect(trail).toContain(`cancelled_by:api_key:${keyA.id}`);
    expect(trail).not.toContain('Cancel this call');
  });

  it('revoke a grant: the grant and its tokens are gone, audited', async () => {
    const op = await signedIn(s.slug, keyA.key);
    const before = await grantIdsOf(s.tenant.id);
    const grant = /name="grant" value="([^"]+)"/.exec(await op.page('/clients'))![1]!;
    expect((await op.post('/clients/revoke', { grant })).status).toBe(303);
    expect((await grantIdsOf(s.tenant.id)).length).toBe(before.length - 1);
    const audit = await s.db.sql`select client_id from audit_events where tenant_id = ${s.tenant.id} and action = 'admin.grant_revoked'`;
    expect(audit.map((r) => r.client_id)).toContain(`api_key:${keyA.id}`);
    expect((await op.post('/clients/revoke', { grant })).status).toBe(404);
  });

  it('create a key: shown once, stored hashed; the new key signs in', async () => {
    const op = await signedIn(s.slug, keyA.key);
    const res = await op.post('/keys', { name: 'made in console', scope: ['admin', 'calls:read'] });
    expect(res.status).toBe(200);
    const key = /data-new-key>([^<]+)</.exec(await res.text())![1]!;
    expect(key).toMatch(/^mcprt_ak_ak[a-z2-7]{16}_/);
    // The secret is what follows the id; it may hold `_` itself (base64url).
    const secret = parseApiKey(key)!.secret;
    expect(await op.page('/keys')).not.toContain(key);
    const row = (await apiKeysRepository(s.db.db, s.tenant.id).list()).find((k) => key.includes(k.id))!;
    expect(row.scopes).toEqual(['admin', 'calls:read']);
    expect(row.secretHash).not.toContain(secret);
    await signedIn(s.slug, key);
    expect((await op.post('/keys', { name: 'bad', scope: 'root' })).status).toBe(400);
  });

  it('edit limits and tools: validated, written, audited; a bad form changes nothing', async () => {
    const op = await signedIn(s.slug, keyA.key);
    await op.page('/settings');
    const repo = tenantsRepository(s.db.db);
    const bads: Record<string, string>[] = [{ pendingCap: '0' }, { pendingCap: 'abc' }, { pendingCap: '5', extra: '1' }, { pendingCap: '99999999' }];
    for (const bad of bads) {
      const res = await op.post('/settings/limits', { perUserConcurrency: '2', perUserRatePerMinute: '30', ...bad });
      expect(res.status, JSON.stringify(bad)).toBe(400);
    }
    expect((await repo.byId(s.tenant.id))!.limits.pendingCap).toBe(20);
    const ok = await op.post('/settings/limits', { pendingCap: '7', perUserConcurrency: '2', perUserRatePerMinute: '30', tenantRatePerMinute: '' });
    expect(ok.status).toBe(303);
    expect((await repo.byId(s.tenant.id))!.limits).toEqual({ pendingCap: 7, perUserConcurrency: 2, perUserRatePerMinute: 30 });
    expect((await op.post('/settings/tools', { tool: ['echo', 'no_such_tool'] })).status).toBe(400);
    expect((await op.post('/settings/tools', { tool: ['echo', 'whoami'] })).status).toBe(303);
    expect((await repo.byId(s.tenant.id))!.enabledTools).toEqual(['echo', 'whoami']);
    const audit = await s.db.sql`select action from audit_events where tenant_id = ${s.tenant.id} and client_id = ${`api_key:${keyA.id}`}`;
    expect(audit.map((r) => r.action)).toEqual(expect.arrayContaining(['admin.limits_changed', 'admin.tools_changed']));
  });

  it('require reauth and revoke a connected provider; verify and export the audit', async () => {
    await s.vault.store(s.scope, aliceA.id, 'github', { accessToken: 'gho_a', scopes: ['repo'] });
    const op = await signedIn(s.slug, keyA.key);
    await op.page('/users');
    expect((await op.post('/users/credentials/reauth', { user: aliceA.id, provider: 'github' })).status).toBe(303);
    expect((await s.scope.credentials.get(aliceA.id, 'github'))!.status).toBe('reauth_required');
    expect((await op.post('/users/credentials/revoke', { user: aliceA.id, provider: 'github' })).status).toBe(303);
    const revoked = (await s.scope.credentials.get(aliceA.id, 'github'))!;
    expect(revoked.status).toBe('revoked');
    expect(s.vault.openAccessToken(revoked, revoked.accessTokenSealed)).toBe('');
    await op.page('/audit');
    const verify = await op.post('/audit/verify', {});
    expect(verify.status).toBe(200);
    expect(await verify.text()).toContain('data-verify="ok"');
    const exp = await op.get('/audit/export');
    expect(exp.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await exp.text()).trim().split('\n');
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'export', tenantId: s.tenant.id });
    expect(lines.join('\n')).not.toContain(b.tenant.id);
  });
});

describe('replays and malformed input', () => {
  it('the same cancel or key revocation posted 8 times at once acts once, with one audit row', async () => {
    const call = await insertCall(s.tenant.id, aliceA.id);
    const spare = await createKey(s.db.db, s.tenant.id, ['calls:read']);
    const op = await signedIn(s.slug, keyA.key);
    const cancels = await Promise.all(Array.from({ length: 8 }, () => op.post(`/calls/${call}/cancel`, {})));
    expect(cancels.map((r) => r.status)).toEqual(Array(8).fill(303));
    const notices = cancels.map((r) => decodeURIComponent(r.headers.get('location') ?? ''));
    expect(notices.filter((l) => l.includes('Call cancelled.'))).toHaveLength(1);
    const cancelled = await s.db.sql`select count(*)::int as n from audit_events where call_id = ${call} and action = 'tool_call.cancelled'`;
    expect(cancelled[0]!.n).toBe(1);
    const revokes = await Promise.all(Array.from({ length: 8 }, () => op.post('/keys/revoke', { id: spare.id })));
    expect(revokes.map((r) => r.status).sort()).toEqual([303, ...Array(7).fill(404)]);
    const rows = await s.db.sql`select count(*)::int as n from audit_events where action = 'admin.api_key_revoked' and reason = ${spare.id}`;
    expect(rows[0]!.n).toBe(1);
  });

  it('huge or malformed forms, ids and filters are refused with a specific error, before anything changes', async () => {
    const op = await signedIn(s.slug, keyA.key);
    expect((await op.post('/keys', { name: 'x'.repeat(40_000), scope: 'admin' })).status).toBe(413);
    expect((await op.post('/keys', { name: 'x'.repeat(101), scope: 'admin' })).status).toBe(400);
    expect((await op.get('/calls/not-a-call-id')).status).toBe(404);
    expect((await op.get(`/calls/call_${'A'.repeat(22)}`)).status).toBe(404);
    expect((await op.get('/calls?status=exploded')).status).toBe(400);
    expect((await op.get('/calls?user=1%27%20or%201=1')).status).toBe(400);
    expect((await op.get('/calls?cursor=%7B%7D')).status).toBe(400);
    expect((await op.post('/users/credentials/revoke', { user: 'nope', provider: 'github' })).status).toBe(400);
    expect((await op.post('/users/credentials/revoke', { user: aliceA.id, provider: '../idp' })).status).toBe(400);
    expect((await op.post('/clients/revoke', { grant: 'g'.repeat(500) })).status).toBe(400);
    const login = new Operator(s.config.PUBLIC_URL, s.slug);
    expect((await login.signIn('k'.repeat(5_000))).status).toBe(401);
    const html = await op.page(`/calls?tool=${encodeURIComponent('<script>alert(1)</script>')}`).catch((e: Error) => e.message);
    expect(html).not.toContain('<script>alert(1)</script>');
  });

  it('the account page disconnect needs its CSRF token and acts only on the signed-in user', async () => {
    const jar = new CookieJar();
    const client = await registerClient(s.issuer, 'console-disconnect');
    await userToken({ issuer: s.issuer, mcpUrl: s.mcpUrl }, { clientId: client, account: 'alice', scope: ALL_SCOPES, jar });
    await s.vault.store(s.scope, aliceA.id, 'google', { accessToken: 'ya29.a', scopes: ['openid'] });
    const account = new URL(`${s.issuer}/account`);
    const page = await fetch(account, { headers: { cookie: jar.header(account) } });
    jar.store(account, page);
    const html = await page.text();
    expect(html).toContain('Your recent calls');
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)![1]!;
    const post = (fields: Record<string, string>, cookie = jar.header(new URL(`${account.href}/disconnect`))) =>
      fetch(`${account.href}/disconnect`, {
        method: 'POST',
        redirect: 'manual',
        headers: { 'content-type': 'application/x-www-form-urlencoded', cookie },
        body: new URLSearchParams(fields).toString(),
      });
    expect((await post({ provider: 'google' })).status).toBe(403);
    expect((await post({ provider: 'google', csrf: 'x'.repeat(43) })).status).toBe(403);
    expect((await post({ provider: 'google', csrf }, '')).status).toBe(403);
    expect((await s.scope.credentials.get(aliceA.id, 'google'))!.status).toBe('active');
    expect((await post({ provider: 'google', csrf })).status).toBe(303);
    expect((await s.scope.credentials.get(aliceA.id, 'google'))!.status).toBe('revoked');
  });
});
