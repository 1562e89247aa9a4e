import { randomUUID } from 'node:crypto';
import { createDb, forTenant, tenantsRepository, type DbHandle } from '@mcprt/db';
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
    expect(await b.toolCalls.claim(call.id)).toBeUndefined();
    expect(await b.users.byId(userA)).toBeUndefined();
  });

  it('writes are fenced: a stale attempt cannot overwrite a newer one', async () => {
    const a = forTenant(h.db, tenantA);
    const call = await a.toolCalls.insert({ id: `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`, userId: userA, tool: 'echo', arguments: {} });
    const stale = (await a.toolCalls.claim(call.id))!.attempt; // worker 1 takes it, then its lock expires
    const fresh = (await a.toolCalls.claim(call.id))!.attempt; // worker 2 retries it
    expect(fresh).toBe(stale + 1);
    expect(await a.toolCalls.finish(call.id, stale, { status: 'succeeded', result: { from: 'stale' } })).toBe(false);
    expect(await a.toolCalls.finish(call.id, fresh, { status: 'succeeded', result: { from: 'fresh' } })).toBe(true);
    // Final rows cannot be claimed or finished again.
    expect(await a.toolCalls.claim(call.id)).toBeUndefined();
    expect(await a.toolCalls.finish(call.id, fresh, { status: 'failed', error: { code: 'x', message: 'x' } })).toBe(false);
    expect((await a.toolCalls.byId(call.id))!.result).toEqual({ from: 'fresh' });
  });

  it('migrations are idempotent and safe to run concurrently', async () => {
    const { runMigrations } = await import('@mcprt/db');
    await Promise.all([runMigrations(TEST_DATABASE_URL), runMigrations(TEST_DATABASE_URL)]);
    const rows = await h.sql`select count(*)::int as n from drizzle.__drizzle_migrations`;
    expect(rows[0]!.n).toBe(2);
  });
});
