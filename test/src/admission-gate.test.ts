import { forTenant, withCallStatements, type CallsDb, type RecordCallInput, type ToolCall } from '@mcprt/calls';
import { createDb, tenantsRepository } from '@mcprt/db';
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespace } from './harness/test-config.js';
import { cloneDatabase, type TestDatabase } from './harness/test-database.js';
import { sleep } from './harness/wait-for.js';

const callId = () => `call_${randomUUID().replace(/-/g, '').slice(0, 22)}`;

/**
 * The admission gate on real Postgres (packages/calls/src/statements/admission-gate.ts): a lone call's
 * job leaves while its row is being recorded; a worker must still never see a call before its
 * admission has committed, and must learn quickly when it was refused.
 */
describe('admission gate (real Postgres)', () => {
  let database: TestDatabase;
  let api: CallsDb;
  let worker: CallsDb;
  let tenant: string;
  let other: string;
  let dan: string;
  const input = (userId: string, cap: number): RecordCallInput => ({
    id: callId(),
    userId,
    clientId: 'client-1',
    tool: 'echo',
    arguments: { message: 'hi' },
    idempotencyKey: null,
    requestId: 'req-1',
    pendingCap: cap,
  });
  /** A lone record whose worker-side load starts the moment its job may leave (before the commit). */
  const recordAndLoad = async (c: RecordCallInput, tenantId = tenant) => {
    let load: Promise<ToolCall | undefined> | undefined;
    const recorded = await api.calls
      .record(tenantId, c, () => (load = worker.calls.load(tenantId, c.id)))
      .then(
        (r) => (r.admitted ? 'admitted' : 'refused'),
        (e: { code?: string }) => e.code ?? 'error',
      );
    return { recorded, load: load! };
  };
  const timed = async <T>(p: Promise<T>): Promise<[T, number]> => {
    const t0 = Date.now();
    const v = await p;
    return [v, Date.now() - t0];
  };

  beforeAll(async () => {
    database = await cloneDatabase('admission-gate');
    api = withCallStatements(createDb(database.ownerUrl, { max: 2 }));
    // A second pool, as the worker has its own; it waits at most 3 s for a row that is not there.
    worker = withCallStatements(createDb(database.ownerUrl, { max: 2 }), { admissionWaitMs: 3_000 });
    const tenants = tenantsRepository(api.db);
    tenant = (await tenants.create({ slug: namespace('ag').slug, displayName: 'AG', idpIssuer: 'https://ag.example', enabledTools: ['echo'] })).id;
    other = (await tenants.create({ slug: namespace('ag2').slug, displayName: 'AG2', idpIssuer: 'https://ag.example', enabledTools: ['echo'] })).id;
    dan = (await forTenant(api.db, tenant).users.upsert({ issuer: 'https://ag.example', subject: 'dan' })).id;
    await worker.calls.watchAdmissions();
  });
  afterAll(async () => {
    await api?.close();
    await worker?.close();
    await database?.drop();
  });

  it('a load started as the job leaves sees the admitted row; a refused call answers at once; a failed record after the wait', async () => {
    const admitted = await recordAndLoad(input(dan, 100));
    expect(admitted.recorded).toBe('admitted');
    expect((await admitted.load)?.status).toBe('queued');

    // Over the cap: refused, and the worker hears so without waiting out its 3 s.
    const busy = (await forTenant(api.db, tenant).users.upsert({ issuer: 'https://ag.example', subject: 'busy' })).id;
    expect((await recordAndLoad(input(busy, 1))).recorded).toBe('admitted');
    const refused = await recordAndLoad(input(busy, 1));
    expect(refused.recorded).toBe('refused');
    const [row, ms] = await timed(refused.load);
    expect(row).toBeUndefined();
    expect(ms).toBeLessThan(1_500);

    // A statement that fails (unknown user: foreign key) commits nothing and announces nothing: the
    // worker finds no row, and gives up only after its wait.
    const failed = await recordAndLoad(input(randomUUID(), 100));
    expect(failed.recorded).toBe('23503');
    const [none, waited] = await timed(failed.load);
    expect(none).toBeUndefined();
    expect(waited).toBeGreaterThanOrEqual(1_500);
  });

  it('lone records one after another: every load started as its job leaves finds its row', async () => {
    const missed: number[] = [];
    for (let i = 0; i < 40; i++) {
      const { load } = await recordAndLoad(input(dan, 100_000));
      if (!(await load)) missed.push(i);
    }
    expect(missed).toEqual([]);
  });

  it('the row comes from the admission notice, as committed, without a read; once', async () => {
    const c = input(dan, 100_000);
    expect((await api.calls.record(tenant, c, () => undefined)).admitted).toBe(true);
    await sleep(100); // the notice has arrived
    // Changed behind the notice's back: the worker's load does not read the table.
    await api.sql`update tool_calls set arguments = '{"message":"changed"}' where tenant_id = ${tenant} and id = ${c.id}`;
    expect((await worker.calls.load(tenant, c.id))?.arguments).toEqual({ message: 'hi' });
    // A second run of the same job reads the row.
    expect((await worker.calls.load(tenant, c.id))?.arguments).toEqual({ message: 'changed' });
  });

  it('a job added through the gate waits for its notice instead of reading, even when the notice comes late: its row arrives while the pool is busy', async () => {
    // One pooled connection, kept busy: a load that reads waits for it; one that waits for the
    // notice (heard on the LISTEN connection, outside the pool) does not. The record's commit, and so
    // its notice, is held back 60 ms (its foreign key check needs a share lock on Dan's row), as a
    // loaded machine delays it: the load is surely started before the notice (a notice already heard
    // is taken without a read either way), and one that gave up on the notice after a few
    // milliseconds would read, find nothing, and queue behind the busy connection.
    const busy = withCallStatements(createDb(database.ownerUrl, { max: 1 }), { admissionWaitMs: 3_000 });
    try {
      await busy.calls.watchAdmissions();
      const run = async (announced: boolean) => {
        const order: string[] = [];
        const sleeping = busy.sql`select pg_sleep(0.8)`.execute().then(() => order.push('busy connection free'));
        await sleep(50);
        const c = input(dan, 100_000);
        let held!: () => void;
        const holding = new Promise<void>((resolve) => (held = resolve));
        const locked = api.sql.begin(async (tx) => {
          await tx`select 1 from users where id = ${dan} for update`;
          held();
          await sleep(60);
        });
        await holding;
        let load: Promise<[ToolCall | undefined, number]> | undefined;
        const t0 = Date.now();
        const recorded = api.calls.record(tenant, c, () => {
          load = busy.calls.load(tenant, c.id, announced).then((row) => {
            order.push('loaded');
            return [row, Date.now() - t0];
          });
        });
        await locked;
        expect((await recorded).admitted).toBe(true);
        const [row, ms] = await load!;
        await sleeping;
        return { id: row?.id, status: row?.status, ms, order, want: c.id };
      };
      const announced = await run(true);
      expect(announced).toMatchObject({ id: announced.want, status: 'queued' });
      expect(announced.ms).toBeGreaterThanOrEqual(40); // it did wait for the commit (held 60 ms from before t0)
      expect(announced.order).toEqual(['loaded', 'busy connection free']); // and not for the busy connection
      // The same without the hint reads first: its read queues behind the busy connection's statement.
      const plain = await run(false);
      expect(plain).toMatchObject({ id: plain.want, status: 'queued' });
      expect(plain.order).toEqual(['busy connection free', 'loaded']);
    } finally {
      await busy.close();
    }
  });

  it('a job that claims the gate but whose notice never comes is read after a moment', async () => {
    const c = input(dan, 100_000);
    expect((await api.calls.record(tenant, c)).admitted).toBe(true); // a batch of one without `held`: no notice
    const [row, ms] = await timed(worker.calls.load(tenant, c.id, true));
    expect(row?.id).toBe(c.id);
    expect(ms).toBeLessThan(1_000);
  });

  it('a notice is never used across tenants: a job claiming the call in another tenant finds nothing, without waiting it out', async () => {
    const c = input(dan, 100_000);
    expect((await api.calls.record(tenant, c, () => undefined)).admitted).toBe(true);
    await sleep(100);
    const [row, ms] = await timed(worker.calls.load(other, c.id));
    expect(row).toBeUndefined();
    expect(ms).toBeLessThan(1_500);
  });

  it('a malformed notice, or one naming another call, is never taken as the row: the load reads the table', async () => {
    const c = input(dan, 100_000);
    expect((await api.calls.record(tenant, c)).admitted).toBe(true); // a batch of one without `held`: no notice
    await api.sql`update tool_calls set arguments = '{"message":"from the table"}' where tenant_id = ${tenant} and id = ${c.id}`;
    // Anyone with the app role can NOTIFY: a broken row, then a well-formed one whose id is another call's.
    const forged = JSON.stringify({
      id: callId(),
      tenant_id: tenant,
      user_id: dan,
      client_id: null,
      tool: 'echo',
      status: 'queued',
      attempt: 0,
      created_at: new Date().toISOString(),
      arguments: { message: 'forged' },
    });
    await api.sql`select pg_notify('mcprt_call_admitted', ${`${c.id} {"id":`})`;
    await api.sql`select pg_notify('mcprt_call_admitted', ${`${c.id} ${forged}`})`;
    await sleep(100);
    expect((await worker.calls.load(tenant, c.id))?.arguments).toEqual({ message: 'from the table' });
  });

  it('a job whose call is already final is not waited for', async () => {
    const c = input(dan, 100_000);
    expect((await api.calls.record(tenant, c)).admitted).toBe(true);
    const audit = { userId: dan, clientId: 'client-1', tool: 'echo', requestId: 'req-1' };
    expect(await api.calls.finish(tenant, { id: c.id, attempt: 1, elapsedMs: 1, outcome: { status: 'succeeded', result: 1 }, audit })).toBe(true);
    const [row, ms] = await timed(worker.calls.load(tenant, c.id));
    expect(row).toBeUndefined();
    expect(ms).toBeLessThan(1_500);
  });

  it('a batch is not gated and announces nothing: its jobs leave after the commit', async () => {
    const held: string[] = [];
    const pair = [input(dan, 100_000), input(dan, 100_000)];
    const out = await Promise.all(pair.map((c) => api.calls.record(tenant, c, () => held.push(c.id))));
    expect(out.map((r) => r.admitted)).toEqual([true, true]);
    expect(held).toEqual([]);
    // Nothing was heard for them: a load reads the committed rows.
    expect((await Promise.all(pair.map((c) => worker.calls.load(tenant, c.id)))).map((r) => r?.id)).toEqual(pair.map((c) => c.id));
  });
});
