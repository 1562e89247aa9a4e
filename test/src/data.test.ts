import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDb, forTenant, migrationsFolder, tenantsRepository, type DbHandle } from '@mcprt/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespace, TEST_DATABASE_URL } from './harness/test-config.js';

describe('data layer (real Postgres)', () => {
  let h: DbHandle;
  let tenantA: string;
  let tenantB: string;
  let userA: string;

  beforeAll(async () => {
    h = createDb(TEST_DATABASE_URL, { max: 3 });
    const tenants = tenantsRepository(h.db);
    tenantA = (await tenants.create({ slug: namespace('da').slug, displayName: 'A', idpIssuer: 'https://a.example', enabledTools: ['echo'] })).id;
    tenantB = (await tenants.create({ slug: namespace('db').slug, displayName: 'B', idpIssuer: 'https://b.example', enabledTools: ['echo'] })).id;
    userA = (await forTenant(h.db, tenantA).users.upsert({ issuer: 'https://a.example', subject: 'alice' })).id;
  });
  afterAll(() => h?.close());

  it('audit_events is append-only for every role, enforced by the database', async () => {
    const audit = forTenant(h.db, tenantA).audit;
    await audit.append({ userId: userA, action: 'test.event', decision: 'info' });
    await expect(h.sql`update audit_events set reason = 'changed' where tenant_id = ${tenantA}`).rejects.toThrow(/append-only \(UPDATE refused\)/);
    await expect(h.sql`delete from audit_events where tenant_id = ${tenantA}`).rejects.toThrow(/append-only \(DELETE refused\)/);
    await expect(h.sql`truncate audit_events`).rejects.toThrow(/append-only|cannot truncate/);
    expect((await audit.forUser(userA)).map((e) => e.action)).toContain('test.event');
  });

  it('the application role may insert and read audit rows but holds no UPDATE/DELETE privilege', async () => {
    const [priv] = await h.sql`
      select has_table_privilege('mcprt_app', 'audit_events', 'INSERT') as ins,
             has_table_privilege('mcprt_app', 'audit_events', 'SELECT') as sel,
             has_table_privilege('mcprt_app', 'audit_events', 'UPDATE') as upd,
             has_table_privilege('mcprt_app', 'audit_events', 'DELETE') as del`;
    expect(priv).toEqual({ ins: true, sel: true, upd: false, del: false });
  });

  it('repositories never read across tenants', async () => {
    const a = forTenant(h.db, tenantA);
    const b = forTenant(h.db, tenantB);
    const call = await a.toolCalls.insert({ id: `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`, userId: userA, tool: 'echo', arguments: {} });
    expect(await a.toolCalls.byId(call.id)).toBeDefined();
    expect(await b.toolCalls.byId(call.id)).toBeUndefined();
    expect(await h.calls.claim(tenantB, call.id)).toBeUndefined();
    expect(await h.calls.byId(tenantB, call.id)).toBeUndefined();
    expect(await b.users.byId(userA)).toBeUndefined();
  });

  it('writes are fenced: a stale attempt cannot overwrite a newer one', async () => {
    const a = forTenant(h.db, tenantA);
    const call = await a.toolCalls.insert({ id: `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`, userId: userA, tool: 'echo', arguments: {} });
    const audit = { userId: userA, clientId: null, tool: 'echo', requestId: null };
    const stale = (await h.calls.claim(tenantA, call.id))!.attempt; // worker 1 takes it, then its lock expires
    const fresh = (await h.calls.claim(tenantA, call.id))!.attempt; // worker 2 retries it
    expect(fresh).toBe(stale + 1);
    expect(await h.calls.finish(tenantA, { id: call.id, attempt: stale, outcome: { status: 'succeeded', result: { from: 'stale' } }, audit })).toBe(false);
    expect(await h.calls.finish(tenantA, { id: call.id, attempt: fresh, outcome: { status: 'succeeded', result: { from: 'fresh' } }, audit })).toBe(true);
    // Final rows cannot be claimed or finished again; only the winning write left an audit row.
    expect(await h.calls.claim(tenantA, call.id)).toBeUndefined();
    expect(await h.calls.finish(tenantA, { id: call.id, attempt: fresh, outcome: { status: 'failed', error: { code: 'x', message: 'x' } }, audit })).toBe(
      false,
    );
    expect((await a.toolCalls.byId(call.id))!.result).toEqual({ from: 'fresh' });
    expect((await a.audit.forCall(call.id)).map((e) => e.action)).toEqual(['tool_call.succeeded']);
  });

  it('admission, call row and accepted audit row are one atomic statement', async () => {
    const a = forTenant(h.db, tenantA);
    const userB = (await a.users.upsert({ issuer: 'https://a.example', subject: 'admission' })).id;
    const rec = (n: number) =>
      h.calls.record(tenantA, {
        id: `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`,
        userId: userB,
        clientId: 'c1',
        tool: 'echo',
        arguments: { n },
        idempotencyKey: null,
        requestId: `r${n}`,
        pendingCap: 2,
      });
    const results = await Promise.all([rec(1), rec(2)]);
    expect(results.every((r) => r.admitted)).toBe(true);
    expect(await rec(3)).toEqual({ admitted: false, pending: 2 });
    const first = results[0]!;
    if (!first.admitted) throw new Error('unreachable');
    expect(first.call).toMatchObject({ tenantId: tenantA, userId: userB, status: 'queued', attempt: 0, arguments: { n: 1 }, clientId: 'c1' });
    expect((await a.audit.forCall(first.call.id)).map((e) => [e.action, e.requestId])).toEqual([['tool_call.accepted', 'r1']]);
    expect(await a.toolCalls.countPending(userB)).toBe(2);
  });

  it('migrations are idempotent and safe to run concurrently', async () => {
    const { runMigrations } = await import('@mcprt/db');
    await Promise.all([runMigrations(TEST_DATABASE_URL), runMigrations(TEST_DATABASE_URL)]);
    const rows = await h.sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
    const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    expect(rows[0]!.n).toBe(journal.entries.length);
  });
});
