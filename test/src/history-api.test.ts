import { randomBytes } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { tenantsRepository, type Tenant, type User } from '@mcprt/db';
import { apiKeyCreate, apiKeyList, apiKeyRevoke, type CliResources } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SCOPES, startStack, type Stack } from './harness/stack.js';
import { sleep } from './harness/wait-for.js';
import { parseApiKey } from '@mcprt/identity';

const HISTORY = `${ALL_SCOPES} calls:read audit:read`;

/**
 * The end user's history (bearer token, own rows only) and the tenant back
 * office (API keys), against the real API, Postgres and IdP.
 */

const callId = () => `call_${randomBytes(16).toString('base64url').slice(0, 22)}`;

interface Page<T> {
  items: T[];
  nextCursor: string | null;
}
type CallItem = { id: string; tool: string; status: string; userId?: string };
type AuditItem = { id: number; userId: string | null; action: string; decision: string; tool: string | null; at: string };

describe('history APIs: end users and the tenant back office', () => {
  let s: Stack;
  let alice: User;
  let bob: User;
  let aliceToken: string;
  let bobToken: string;
  let other: Tenant;
  let lines: string[];
  let res: CliResources;
  const base = () => `${s.config.PUBLIC_URL}/t/${s.tenant.slug}/v1`;

  /** `n` calls of `user`, inserted in ONE statement: they share created_at to the microsecond (the tie-break is the id). */
  async function insertCalls(user: User, n: number, o: { tool?: string; status?: string; createdAt?: string } = {}): Promise<string[]> {
    const ids = Array.from({ length: n }, callId);
    await s.db.sql`
      insert into tool_calls (id, tenant_id, user_id, tool, arguments, status, created_at, finished_at)
      select id, ${s.tenant.id}, ${user.id}, ${o.tool ?? 'echo'}, '{}'::jsonb, ${o.status ?? 'succeeded'}::tool_call_status,
        coalesce(${o.createdAt ?? null}::timestamptz, now()), now()
      from unnest(${ids}::text[]) as id`;
    return ids;
  }

  async function get(path: string, token: string, accept = 'application/json') {
    return fetch(`${base()}${path}`, { headers: { authorization: `Bearer ${token}`, accept } });
  }

  async function allPages<T>(path: string, token: string, between?: (page: number) => Promise<void>): Promise<T[]> {
    const out: T[] = [];
    let cursor: string | null = null;
    for (let page = 0; page < 100; page++) {
      const sep = path.includes('?') ? '&' : '?';
      const r = await get(`${path}${cursor ? `${sep}cursor=${cursor}` : ''}`, token);
      expect(r.status).toBe(200);
      const body = (await r.json()) as Page<T>;
      out.push(...body.items);
      cursor = body.nextCursor;
      if (!cursor) return out;
      await between?.(page);
    }
    throw new Error('too many pages');
  }

  beforeAll(async () => {
    s = await startStack({ label: 'history', worker: 'none' });
    alice = (await s.connectUser('alice')).user;
    bob = (await s.connectUser('bob')).user;
    // These tests are about users: calls inserted here name no client, so the tokens carry the
    // history scopes (which app sees which call is test/src/call-scopes.test.ts).
    aliceToken = await s.token('alice', { scope: HISTORY });
    bobToken = await s.token('bob', { scope: HISTORY });
    other = await tenantsRepository(s.db.db).create({ slug: `${s.tenant.slug}-b`, displayName: 'other', idpIssuer: s.idp.issuer, enabledTools: ['echo'] });
    lines = [];
    res = { db: s.db.db, sql: s.db.sql, config: s.config, out: (l) => lines.push(l) };
  });
  afterAll(() => s?.close());

  it('a user lists only their own calls; pages are stable while calls are inserted concurrently (none skipped or repeated)', async () => {
    const mine = await insertCalls(alice, 23);
    const older = await insertCalls(alice, 5, { createdAt: new Date(Date.now() - 3_600_000).toISOString() });
    const bobs = await insertCalls(bob, 9);
    let inserting = true;
    const fresh: string[] = [];
    // Keep inserting alice calls (newer than any page) while she pages through with limit 4.
    const writer = (async () => {
      while (inserting) fresh.push(...(await insertCalls(alice, 3)));
    })();
    const seen = await allPages<CallItem>('/tool-calls?limit=4', aliceToken, async () => {
      await sleep(5);
    });
    inserting = false;
    await writer;
    expect(fresh.length).toBeGreaterThan(0);
    const ids = seen.map((c) => c.id);
    expect(new Set(ids).size).toBe(ids.length); // nothing repeated
    for (const id of [...mine, ...older]) expect(ids).toContain(id); // nothing that existed is skipped
    for (const id of bobs) expect(ids).not.toContain(id); // another user's rows are invisible
    expect(seen.every((c) => !('userId' in c))).toBe(true);
    // Newest first: the hour-old calls come last.
    expect(ids.slice(-5).sort()).toEqual([...older].sort());
  });

  it('filters: status, tool, since/until', async () => {
    const failed = await insertCalls(bob, 2, { status: 'failed', tool: 'whoami' });
    await insertCalls(bob, 3, { status: 'succeeded', tool: 'echo', createdAt: '2026-01-01T00:00:00Z' });
    const byStatus = await allPages<CallItem>('/tool-calls?status=failed', bobToken);
    expect(byStatus.map((c) => c.id).sort()).toEqual([...failed].sort());
    const byTool = await allPages<CallItem>('/tool-calls?tool=whoami', bobToken);
    expect(byTool.every((c) => c.tool === 'whoami')).toBe(true);
    const inJanuary = await allPages<CallItem>('/tool-calls?since=2026-01-01T00:00:00Z&until=2026-01-02T00:00:00Z', bobToken);
    expect(inJanuary).toHaveLength(3);
  });

  it('query parameters are validated with specific 400s', async () => {
    const cases: [string, RegExp][] = [
      ['/tool-calls?limit=0', /^limit: limit must be at least 1/],
      ['/tool-calls?limit=500', /^limit: limit must be at most 200/],
      ['/tool-calls?status=done', /^status: status must be one of/],
      ['/tool-calls?since=yesterday', /^since: since must be an ISO 8601/],
      ['/tool-calls?since=2026-02-01T00:00:00Z&until=2026-01-01T00:00:00Z', /^until: until must be later than since/],
      ['/tool-calls?user=x', /^user: unknown query parameter|^user/],
      ['/audit-events?decision=maybe', /^decision: decision must be allow, deny or info/],
    ];
    for (const [path, message] of cases) {
      const r = await get(path, aliceToken);
      expect(r.status, path).toBe(400);
      const body = (await r.json()) as { error: string; error_description: string };
      expect(body.error, path).toBe('invalid_query');
      expect(body.error_description, path).toMatch(message);
    }
    // A cursor the endpoint did not return has its own code (every kind of forgery: history-cursor.test.ts).
    const forged = await get('/tool-calls?cursor=eyJrIjoiYSJ9', aliceToken);
    expect(forged.status).toBe(400);
    expect(await forged.json()).toMatchObject({ error: 'invalid_cursor', error_description: 'cursor: not a cursor this endpoint returned' });
    // No token: the MCP endpoint's challenge.
    const anon = await fetch(`${base()}/tool-calls`);
    expect(anon.status).toBe(401);
    expect(anon.headers.get('www-authenticate')).toContain('resource_metadata=');
  });

  it("a user's audit history: own rows only, newest first, paged and filtered", async () => {
    await s.db.sql`insert into audit_events (tenant_id, user_id, tool, action, decision)
      select ${s.tenant.id}, u, 'echo', 'tool_call.accepted', 'allow' from unnest(${[alice.id, alice.id, alice.id, bob.id]}::uuid[]) u`;
    await s.db
      .sql`insert into audit_events (tenant_id, user_id, tool, action, decision, reason) values (${s.tenant.id}, ${alice.id}, 'echo', 'tool_call.failed', 'deny', 'x')`;
    const mine = await allPages<AuditItem>('/audit-events?limit=2', aliceToken);
    expect(mine).toHaveLength(4);
    expect(mine.every((e) => e.userId === alice.id)).toBe(true);
    expect(mine.map((e) => e.id)).toEqual([...mine.map((e) => e.id)].sort((a, b) => b - a));
    expect(mine[0]!.at).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    const denied = await allPages<AuditItem>('/audit-events?decision=deny', aliceToken);
    expect(denied.map((e) => e.action)).toEqual(['tool_call.failed']);
  });

  describe('back office (tenant API keys)', () => {
    let key: string;
    let keyId: string;

    beforeAll(async () => {
      ({ key, id: keyId } = await apiKeyCreate(res, { slug: s.tenant.slug, scopes: 'audit:read,calls:read', name: 'auditors' }));
    });

    it('the key is shown once and stored hashed', async () => {
      expect(key).toMatch(/^mcprt_ak_ak[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
      const [row] = await s.db.sql`select * from tenant_api_keys where id = ${keyId}`;
      expect(JSON.stringify(row)).not.toContain(parseApiKey(key)!.secret);
      expect(row!.secret_hash).toMatch(/^[0-9a-f]{64}$/);
    });

    it("lists and filters every user's calls, fetches one; each use is audited and sets last_used_at", async () => {
      const [bobCall] = await insertCalls(bob, 1, { tool: 'whoami', status: 'failed' });
      const all = await allPages<CallItem>('/admin/tool-calls?limit=50', key);
      expect(new Set(all.map((c) => c.userId))).toEqual(new Set([alice.id, bob.id]));
      const bobs = await allPages<CallItem>(`/admin/tool-calls?user=${bob.id}&status=failed&tool=whoami`, key);
      expect(bobs.length).toBeGreaterThan(0);
      expect(bobs.every((c) => c.userId === bob.id && c.status === 'failed' && c.tool === 'whoami')).toBe(true);
      const one = await get(`/admin/tool-calls/${bobCall}`, key);
      expect(one.status).toBe(200);
      expect(await one.json()).toMatchObject({ id: bobCall, userId: bob.id, status: 'failed' });
      expect((await get(`/admin/tool-calls/${callId()}`, key)).status).toBe(404);
      // The user API never shows bob's call to alice.
      expect((await get(`/tool-calls/${bobCall}`, aliceToken)).status).toBe(404);

      const uses = await s.db.sql`select action, decision, client_id from audit_events where tenant_id = ${s.tenant.id} and client_id = ${`api_key:${keyId}`}`;
      expect(uses.map((u) => u.action)).toEqual(expect.arrayContaining(['api_key.list_calls', 'api_key.get_call']));
      expect(uses.every((u) => u.decision === 'allow')).toBe(true);
      lines.length = 0;
      await apiKeyList(res, { slug: s.tenant.slug });
      expect(lines.find((l) => l.startsWith(keyId))).toMatch(/active .*last_used=\d{4}-/);
    });

    it('audit events of every user, filtered by user, action, decision and time', async () => {
      const all = await allPages<AuditItem>('/admin/audit-events?limit=100', key);
      expect(new Set(all.map((e) => e.userId))).toEqual(expect.objectContaining({}));
      expect(all.some((e) => e.userId === bob.id) && all.some((e) => e.userId === alice.id)).toBe(true);
      const bobs = await allPages<AuditItem>(`/admin/audit-events?user=${bob.id}&action=tool_call.accepted&decision=allow`, key);
      expect(bobs.length).toBe(1);
      const future = await allPages<AuditItem>('/admin/audit-events?since=2099-01-01T00:00:00Z', key);
      expect(future).toHaveLength(0);
    });

    it("cancels any call of the tenant with calls:cancel (audited as the key); without the scope 403; another tenant's call 404; a finished one 409", async () => {
      const post = (path: string, token: string) => fetch(`${base()}${path}`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
      const [queued] = await insertCalls(bob, 1, { status: 'queued' });
      const [done] = await insertCalls(bob, 1, { status: 'succeeded' });
      // The key made above has no calls:cancel.
      const refused = await post(`/admin/tool-calls/${queued}/cancel`, key);
      expect(refused.status).toBe(403);
      const canceller = await apiKeyCreate(res, { slug: s.tenant.slug, scopes: 'calls:cancel' });
      const ok = await post(`/admin/tool-calls/${queued}/cancel`, canceller.key);
      expect(ok.status).toBe(200);
      expect(await ok.json()).toMatchObject({ id: queued, userId: bob.id, status: 'cancelled' });
      const [row] = await s.db.sql`select status from tool_calls where id = ${queued!}`;
      expect(row!.status).toBe('cancelled');
      const audit = await s.db
        .sql`select reason from audit_events where tenant_id = ${s.tenant.id} and action = 'tool_call.cancelled' and call_id = ${queued!}`;
      expect(audit.map((a) => a.reason)).toEqual([`cancelled_by:api_key:${canceller.id}`]);
      const again = await post(`/admin/tool-calls/${queued}/cancel`, canceller.key);
      expect(again.status).toBe(409);
      expect(((await again.json()) as { error: { code: string } }).error.code).toBe('call_final');
      expect((await post(`/admin/tool-calls/${done}/cancel`, canceller.key)).status).toBe(409);
      expect((await post(`/admin/tool-calls/${callId()}/cancel`, canceller.key)).status).toBe(404);
      expect((await post('/admin/tool-calls/not-a-call-id/cancel', canceller.key)).status).toBe(404);
      // A call of another tenant, with this tenant's key at this tenant: not found (tenant-scoped).
      const foreignId = callId();
      const [u] = await s.db.sql`insert into users (tenant_id, issuer, subject) values (${other.id}, ${s.idp.issuer}, 'x-cancel') returning id`;
      await s.db
        .sql`insert into tool_calls (id, tenant_id, user_id, tool, arguments, status) values (${foreignId}, ${other.id}, ${u!.id}, 'echo', '{}'::jsonb, 'queued')`;
      expect((await post(`/admin/tool-calls/${foreignId}/cancel`, canceller.key)).status).toBe(404);
      const [foreignRow] = await s.db.sql`select status from tool_calls where id = ${foreignId}`;
      expect(foreignRow!.status).toBe('queued');
    });

    it('refusals: no key, a malformed key, a key of another tenant, a revoked key → 401; a missing scope → 403', async () => {
      expect((await fetch(`${base()}/admin/tool-calls`)).status).toBe(401);
      expect((await get('/admin/tool-calls', 'mcprt_ak_nope')).status).toBe(401);
      // A user's MCP token is not a back-office credential.
      expect((await get('/admin/tool-calls', aliceToken)).status).toBe(401);
      const foreign = await apiKeyCreate(res, { slug: other.slug, scopes: 'audit:read,calls:read' });
      const atA = await get('/admin/tool-calls', foreign.key);
      expect(atA.status).toBe(401);
      expect(((await atA.json()) as { error: string }).error).toBe('invalid_token');
      // …while it works at its own tenant.
      expect((await fetch(`${s.config.PUBLIC_URL}/t/${other.slug}/v1/admin/tool-calls`, { headers: { authorization: `Bearer ${foreign.key}` } })).status).toBe(
        200,
      );
      // A right id with a wrong secret.
      expect((await get('/admin/tool-calls', `${key.slice(0, -5)}AAAAA`)).status).toBe(401);

      const narrow = await apiKeyCreate(res, { slug: s.tenant.slug, scopes: 'calls:read' });
      const forbidden = await get('/admin/audit-events', narrow.key);
      expect(forbidden.status).toBe(403);
      expect(((await forbidden.json()) as { error: string }).error).toBe('insufficient_scope');

      await apiKeyRevoke(res, { slug: s.tenant.slug, id: narrow.id });
      const revoked = await get('/admin/tool-calls', narrow.key);
      expect(revoked.status).toBe(401);
      expect(((await revoked.json()) as { error_description: string }).error_description).toMatch(/revoked/);
      const denies = await s.db
        .sql`select reason from audit_events where tenant_id = ${s.tenant.id} and client_id = ${`api_key:${narrow.id}`} and decision = 'deny'`;
      expect(denies.map((d) => d.reason).sort()).toEqual(['api_key_revoked', 'insufficient_scope']);
    });
  });

  it('the OpenAPI document validates as OpenAPI 3.1 and describes the routes it validates with', async () => {
    const r = await fetch(`${s.config.PUBLIC_URL}/v1/openapi.json`);
    expect(r.status).toBe(200);
    const doc = (await r.json()) as { openapi: string; paths: Record<string, { get: { parameters?: { name: string; in: string }[] } }> };
    expect(doc.openapi).toBe('3.1.0');
    const validator = new Validator();
    const result = await validator.validate(doc as unknown as Parameters<Validator['validate']>[0]);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
    expect(validator.version).toBe('3.1');
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        '/t/{tenant}/v1/tool-calls',
        '/t/{tenant}/v1/audit-events',
        '/t/{tenant}/v1/admin/tool-calls',
        '/t/{tenant}/v1/admin/audit-events',
        '/t/{tenant}/v1/admin/tool-calls/{id}/cancel',
        '/t/{tenant}/v1/tool-calls/{id}/cancel',
        '/t/{tenant}/v1/audit-keys',
      ]),
    );
    const params = doc.paths['/t/{tenant}/v1/admin/audit-events']!.get.parameters!.filter((p) => p.in === 'query').map((p) => p.name);
    expect(params.sort()).toEqual(['action', 'cursor', 'decision', 'limit', 'since', 'tool', 'until', 'user']);
  });
});
