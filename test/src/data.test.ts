import { withCallStatements, type CallsDb } from '@mcprt/calls';
import { randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createDb, migrationsFolder, tenantsRepository } from '@mcprt/db';
import { forTenant, type FinishInput } from '@mcprt/calls';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespace, TEST_APP_ROLE } from './harness/test-config.js';
import { cloneDatabase, type TestDatabase } from './harness/test-database.js';

describe('data layer (real Postgres)', () => {
  let database: TestDatabase;
  let h: CallsDb;
  let tenantA: string;
  let tenantB: string;
  let userA: string;

  beforeAll(async () => {
    database = await cloneDatabase('data');
    h = withCallStatements(createDb(database.ownerUrl, { max: 3 }));
    const tenants = tenantsRepository(h.db);
    tenantA = (await tenants.create({ slug: namespace('da').slug, displayName: 'A', idpIssuer: 'https://a.example', enabledTools: ['echo'] })).id;
    tenantB = (await tenants.create({ slug: namespace('db').slug, displayName: 'B', idpIssuer: 'https://b.example', enabledTools: ['echo'] })).id;
    userA = (await forTenant(h.db, tenantA).users.upsert({ issuer: 'https://a.example', subject: 'alice' })).id;
  });
  afterAll(async () => {
    await h?.close();
    await database?.drop();
  });

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
      select has_table_privilege(${TEST_APP_ROLE}, 'audit_events', 'INSERT') as ins,
             has_table_privilege(${TEST_APP_ROLE}, 'audit_events', 'SELECT') as sel,
             has_table_privilege(${TEST_APP_ROLE}, 'audit_events', 'UPDATE') as upd,
             has_table_privilege(${TEST_APP_ROLE}, 'audit_events', 'DELETE') as del`;
    expect(priv).toEqual({ ins: true, sel: true, upd: false, del: false });
  });

  it('repositories never read across tenants', async () => {
    const a = forTenant(h.db, tenantA);
    const b = forTenant(h.db, tenantB);
    const call = await a.toolCalls.insert({ id: `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`, userId: userA, tool: 'echo', arguments: {} });
    expect(await a.toolCalls.byId(call.id)).toBeDefined();
    expect(await b.toolCalls.byId(call.id)).toBeUndefined();
    expect(await h.calls.load(tenantB, call.id)).toBeUndefined();
    expect(await h.calls.markRunning(tenantB, call.id, 1, 0)).toBe(false);
    expect(await h.calls.byId(tenantB, call.id)).toBeUndefined();
    expect(await b.users.byId(userA)).toBeUndefined();
  });

  it('writes are fenced: a stale attempt cannot overwrite a newer one', async () => {
    const a = forTenant(h.db, tenantA);
    const call = await a.toolCalls.insert({ id: `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`, userId: userA, tool: 'echo', arguments: {} });
    const audit = { userId: userA, clientId: null, tool: 'echo', requestId: null };
    const finish = (attempt: number, outcome: FinishInput['outcome']) => h.calls.finish(tenantA, { id: call.id, attempt, elapsedMs: 5, outcome, audit });
    // Worker 1 runs start 1 long enough to be marked running, then its lock expires; worker 2 runs start 2.
    expect(await h.calls.markRunning(tenantA, call.id, 1, 150)).toBe(true);
    expect(await h.calls.markRunning(tenantA, call.id, 2, 120)).toBe(true);
    expect(await h.calls.markRunning(tenantA, call.id, 1, 300)).toBe(false); // start 1 cannot take it back
    expect((await h.calls.load(tenantA, call.id))!).toMatchObject({ status: 'running', attempt: 2 });
    expect(await finish(1, { status: 'succeeded', result: { from: 'stale' } })).toBe(false);
    expect(await finish(2, { status: 'succeeded', result: { from: 'fresh' } })).toBe(true);
    // A final row cannot be marked or finished again, not even by a later start; only the winning write left an audit row.
    expect(await h.calls.markRunning(tenantA, call.id, 3, 0)).toBe(false);
    expect(await finish(3, { status: 'failed', error: { code: 'x', message: 'x' } })).toBe(false);
    const row = (await a.toolCalls.byId(call.id))!;
    expect(row).toMatchObject({ status: 'succeeded', attempt: 2, result: { from: 'fresh' } });
    expect(row.finishedAt!.getTime() - row.startedAt!.getTime()).toBeGreaterThanOrEqual(4);
    expect((await a.audit.forCall(call.id)).map((e) => e.action)).toEqual(['tool_call.succeeded']);
  });

  it('a quick call goes from queued to final in one write; the first run to finish wins', async () => {
    const a = forTenant(h.db, tenantA);
    const call = await a.toolCalls.insert({ id: `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`, userId: userA, tool: 'echo', arguments: {} });
    const audit = { userId: userA, clientId: null, tool: 'echo', requestId: null };
    // Start 1 stalled without marking the row; start 2 finishes first: start 1's late write is refused.
    expect(await h.calls.finish(tenantA, { id: call.id, attempt: 2, elapsedMs: 3, outcome: { status: 'succeeded', result: { n: 2 } }, audit })).toBe(true);
    expect(await h.calls.finish(tenantA, { id: call.id, attempt: 1, elapsedMs: 900, outcome: { status: 'succeeded', result: { n: 1 } }, audit })).toBe(false);
    expect(await a.toolCalls.byId(call.id)).toMatchObject({ status: 'succeeded', attempt: 2, result: { n: 2 } });
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
    await Promise.all([runMigrations(database.ownerUrl, { appUrl: database.appUrl }), runMigrations(database.ownerUrl, { appUrl: database.appUrl })]);
    const rows = await h.sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
    const journal = JSON.parse(readFileSync(join(migrationsFolder, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] };
    expect(rows[0]!.n).toBe(journal.entries.length);
  });
});
