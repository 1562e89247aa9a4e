import { withCallStatements, type CallsDb } from '@mcprt/calls';
import { randomUUID } from 'node:crypto';
import { CALL_DONE_CHANNEL, forTenant, type RecordCallInput } from '@mcprt/calls';
import { createDb, tenantsRepository } from '@mcprt/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespace } from './harness/test-config.js';
import { cloneDatabase, type TestDatabase } from './harness/test-database.js';
import { sleep } from './harness/wait-for.js';

const callId = () => `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`;

/**
 * The hot statements are grouped per event-loop turn (packages/db/src/group-commit.ts): calls made
 * together must get exactly what they would have got one after another.
 */
describe('grouped call statements (real Postgres)', () => {
  let database: TestDatabase;
  let h: CallsDb;
  let tenant: string;
  let alice: string;
  let bob: string;
  const input = (userId: string, cap: number, extra: Partial<RecordCallInput> = {}): RecordCallInput => ({
    id: callId(),
    userId,
    clientId: 'client-1',
    tool: 'echo',
    arguments: { message: 'hi', nested: { n: 1 } },
    idempotencyKey: null,
    requestId: 'req-1',
    pendingCap: cap,
    ...extra,
  });
  const audits = async (ids: string[]) =>
    (await h.sql`select call_id, action, decision, reason from audit_events where tenant_id = ${tenant} and call_id = any(${ids}) order by id`).map((r) => ({
      ...r,
    }));

  beforeAll(async () => {
    database = await cloneDatabase('group-commit');
    // A load of an id with no row waits that long for its admission (admission-gate.test.ts): short here.
    h = withCallStatements(createDb(database.ownerUrl, { max: 3 }), { admissionWaitMs: 100 });
    tenant = (await tenantsRepository(h.db).create({ slug: namespace('gc').slug, displayName: 'GC', idpIssuer: 'https://gc.example', enabledTools: ['echo'] }))
      .id;
    const users = forTenant(h.db, tenant).users;
    alice = (await users.upsert({ issuer: 'https://gc.example', subject: 'alice' })).id;
    bob = (await users.upsert({ issuer: 'https://gc.example', subject: 'bob' })).id;
  });
  afterAll(async () => {
    await h?.close();
    await database?.drop();
  });

  it('records made together are admitted as if made in order: per user, up to the pending cap', async () => {
    const ins = [input(alice, 2), input(bob, 2), input(alice, 2), input(alice, 2), input(bob, 2)];
    const out = await Promise.all(ins.map((c) => h.calls.record(tenant, c)));
    expect(out.map((o) => o.admitted)).toEqual([true, true, true, false, true]);
    expect(out[3]).toEqual({ admitted: false, pending: 2 });
    const first = out[0] as Extract<(typeof out)[0], { admitted: true }>;
    expect(first.call).toMatchObject({
      id: ins[0]!.id,
      userId: alice,
      status: 'queued',
      attempt: 0,
      arguments: { message: 'hi', nested: { n: 1 } },
      clientId: 'client-1',
    });
    expect(first.call.createdAt).toBeInstanceOf(Date);
    const admitted = ins.filter((_, i) => out[i]!.admitted).map((c) => c.id);
    expect((await audits(ins.map((c) => c.id))).map((a) => a.call_id).sort()).toEqual([...admitted].sort());
    // Alice is now at her cap: a later lone record is refused too.
    expect(await h.calls.record(tenant, input(alice, 2))).toEqual({ admitted: false, pending: 2 });
  });

  it('records of two tenants made together are each recorded in their own tenant', async () => {
    const other = (
      await tenantsRepository(h.db).create({ slug: namespace('gc2').slug, displayName: 'GC2', idpIssuer: 'https://gc2.example', enabledTools: ['echo'] })
    ).id;
    const dave = (await forTenant(h.db, other).users.upsert({ issuer: 'https://gc2.example', subject: 'dave' })).id;
    const a = input(bob, 100);
    const b = input(dave, 100);
    const out = await Promise.all([h.calls.record(tenant, a), h.calls.record(other, b), h.calls.record(tenant, input(bob, 100))]);
    expect(out.map((o) => (o.admitted ? o.call.tenantId : 'refused'))).toEqual([tenant, other, tenant]);
    // A row of one tenant is invisible through the other's scope.
    expect(await h.calls.byId(other, a.id)).toBeUndefined();
    expect((await h.calls.byId(other, b.id))?.userId).toBe(dave);
  });

  it('a record that breaks a constraint fails alone; the others of its group are recorded', async () => {
    const ins = [input(bob, 100), input(randomUUID(), 100), input(bob, 100)];
    const out = await Promise.allSettled(ins.map((c) => h.calls.record(tenant, c)));
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((out[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23503' }); // unknown user: foreign key
    const rows = await h.sql`select id from tool_calls where tenant_id = ${tenant} and id = any(${ins.map((c) => c.id)})`;
    expect(rows.map((r) => r.id).sort()).toEqual([ins[0]!.id, ins[2]!.id].sort());
  });

  it('loads and finishes made together are fenced per row; only winners write, audit and ring', async () => {
    const carol = (await forTenant(h.db, tenant).users.upsert({ issuer: 'https://gc.example', subject: 'carol' })).id;
    const ins = [input(carol, 100), input(carol, 100), input(carol, 100)];
    for (const r of await Promise.all(ins.map((c) => h.calls.record(tenant, c)))) expect(r.admitted).toBe(true);
    const loaded = await Promise.all([...ins.map((c) => h.calls.load(tenant, c.id)), h.calls.load(tenant, 'call_doesnotexist0000000000')]);
    expect(loaded.map((c) => c?.id)).toEqual([...ins.map((c) => c.id), undefined]);
    expect(loaded.slice(0, 3).map((c) => c?.arguments)).toEqual([0, 1, 2].map(() => ({ message: 'hi', nested: { n: 1 } })));
    // The second call was marked running by a newer start (3) than the one that will try to finish it (1).
    expect(await h.calls.markRunning(tenant, ins[1]!.id, 3, 50)).toBe(true);

    const heard: string[] = [];
    const sub = await h.sql.listen(CALL_DONE_CHANNEL, (p) => heard.push(p));
    try {
      const audit = { userId: carol, clientId: 'client-1', tool: 'echo', requestId: 'req-1' };
      const won = await Promise.all([
        h.calls.finish(tenant, { id: ins[0]!.id, attempt: 1, elapsedMs: 1, outcome: { status: 'succeeded', result: { ok: 1 } }, audit }),
        h.calls.finish(tenant, { id: ins[1]!.id, attempt: 1, elapsedMs: 1, outcome: { status: 'succeeded', result: { stale: true } }, audit }), // stale attempt
        h.calls.finish(tenant, {
          id: ins[2]!.id,
          attempt: 1,
          elapsedMs: 1,
          outcome: { status: 'failed', error: { code: 'boom', message: 'it broke' } },
          audit,
        }),
      ]);
      expect(won).toEqual([true, false, true]);
      const rows = await h.sql`select id, status, result, error from tool_calls where tenant_id = ${tenant} and id = any(${ins.map((c) => c.id)})`;
      const byId = new Map(rows.map((r) => [r.id as string, r]));
      expect(byId.get(ins[0]!.id)).toMatchObject({ status: 'succeeded', result: { ok: 1 }, error: null });
      expect(byId.get(ins[1]!.id)).toMatchObject({ status: 'running', result: null });
      expect(byId.get(ins[2]!.id)).toMatchObject({ status: 'failed', result: null, error: { code: 'boom', message: 'it broke' } });
      const finals = (await audits(ins.map((c) => c.id))).filter((a) => a.action !== 'tool_call.accepted');
      expect(finals).toEqual(
        expect.arrayContaining([
          { call_id: ins[0]!.id, action: 'tool_call.succeeded', decision: 'allow', reason: null },
          { call_id: ins[2]!.id, action: 'tool_call.failed', decision: 'deny', reason: 'boom' },
        ]),
      );
      expect(finals).toHaveLength(2);
      for (let i = 0; i < 50 && heard.length < 2; i++) await sleep(20);
      expect(heard.map((p) => p.split(' ')[0]).sort()).toEqual([ins[0]!.id, ins[2]!.id].sort());
      expect(JSON.parse(heard.find((p) => p.startsWith(ins[0]!.id))!.slice(ins[0]!.id.length + 1))).toMatchObject({ status: 'succeeded', result: { ok: 1 } });
    } finally {
      await sub.unlisten();
    }
  });

  it('a tool result that is JSON null is stored as jsonb null, grouped or not', async () => {
    const ins = [input(bob, 100), input(bob, 100), input(bob, 100)];
    await Promise.all(ins.map((c) => h.calls.record(tenant, c)));
    const audit = { userId: bob, clientId: null, tool: 'echo', requestId: null };
    await Promise.all(
      ins.slice(0, 2).map((c) => h.calls.finish(tenant, { id: c.id, attempt: 1, elapsedMs: 1, outcome: { status: 'succeeded', result: null }, audit })),
    );
    await h.calls.finish(tenant, { id: ins[2]!.id, attempt: 1, elapsedMs: 1, outcome: { status: 'succeeded', result: null }, audit });
    const rows = await h.sql`select jsonb_typeof(result) as t from tool_calls where tenant_id = ${tenant} and id = any(${ins.map((c) => c.id)})`;
    expect(rows.map((r) => r.t)).toEqual(['null', 'null', 'null']);
  });
});
