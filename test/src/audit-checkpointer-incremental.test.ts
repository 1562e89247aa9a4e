import { auditPublicKeys, createCheckpointer, publicKeyFromJwk, verifyTenantTrail } from '@mcprt/audit';
import { createDb } from '@mcprt/db';
import { describe, expect, it } from 'vitest';
import { auditTestDb } from './harness/audit-db.js';
import { genericPlan, planNodes, type PlanNode } from './harness/pg-plan.js';
import { startPgQueryCounter } from './harness/pg-query-counter.js';

/**
 * The checkpointer instance of a worker remembers its previous horizon and the tenants it could not
 * finish: a tick reads the audit rows appended since the previous one (a primary-key range), not the
 * table, and still seals every tenant (carried over when busy, several instances side by side, a
 * periodic full tick for what a range cannot see).
 */
describe('audit checkpointer: incremental ticks (real Postgres)', () => {
  const t = auditTestDb('ckpt-incremental', { maxRows: 40 });
  const { keyring, deps, newTenant } = t;
  /** `count` audit rows for the tenant, appended as the app role. */
  const append = (tenantId: string, count: number) =>
    t.app.sql`insert into audit_events (tenant_id, tool, action, decision, reason)
      select ${tenantId}, 'echo', 'tool_call.accepted', 'allow', 'r' || g from generate_series(1, ${count}) g`;
  /** The tenant's rows after its last checkpoint. */
  const unsealed = async (tenantId: string) =>
    (
      await t.app.sql`select count(*)::int as n from audit_events where tenant_id = ${tenantId}
        and id > coalesce((select max(last_id) from audit_checkpoints where tenant_id = ${tenantId}), 0)`
    )[0]!.n as number;
  const verify = (tenantId: string) =>
    verifyTenantTrail(t.app.sql, tenantId, new Map(auditPublicKeys(keyring, tenantId).map((k) => [k.kid, publicKeyFromJwk(k)])));

  it('rows appended after the first tick, for two tenants, are sealed by the second, incremental tick', async () => {
    const a = await newTenant();
    const b = await newTenant();
    await append(a, 5);
    const c = createCheckpointer(deps());
    expect(await c.tick()).toMatchObject({ settled: true, scan: 'full', rows: 5 });
    await append(a, 7);
    await append(b, 50); // more than maxRows: two checkpoints
    expect(await c.tick()).toMatchObject({ scan: 'incremental', candidates: 2, checkpoints: 3, rows: 57 });
    expect([await unsealed(a), await unsealed(b)]).toEqual([0, 0]);
    expect(await verify(a)).toMatchObject({ ok: true, checkpoints: 2, rowsVerified: 12, unsealedRows: 0 });
    expect(await verify(b)).toMatchObject({ ok: true, checkpoints: 2, rowsVerified: 50, unsealedRows: 0 });
  });

  it('a tenant whose lock another session held during a tick is sealed by the next one, with no new row of its own', async () => {
    const busy = await newTenant();
    const other = await newTenant();
    const c = createCheckpointer(deps());
    await append(busy, 3);
    await c.tick();
    await append(busy, 4);
    await append(other, 2);
    const holder = await t.app.sql.reserve();
    try {
      const [r] = await holder`select pg_try_advisory_lock(hashtextextended(${`audit-checkpoint:${busy}`}, 0)) as ok`;
      expect(r!.ok).toBe(true);
      expect(await c.tick()).toMatchObject({ scan: 'incremental', rows: 2 });
      expect([await unsealed(busy), await unsealed(other)]).toEqual([4, 0]);
      await holder`select pg_advisory_unlock(hashtextextended(${`audit-checkpoint:${busy}`}, 0))`;
    } finally {
      holder.release();
    }
    // No audit row at all since the previous tick: only the carried-over tenant is a candidate.
    expect(await c.tick()).toMatchObject({ scan: 'incremental', candidates: 1, rows: 4 });
    expect(await unsealed(busy)).toBe(0);
    expect(await verify(busy)).toMatchObject({ ok: true, rowsVerified: 7, unsealedRows: 0 });
    // Done: nothing carried over any more.
    expect(await c.tick()).toMatchObject({ scan: 'incremental', candidates: 0, rows: 0 });
  });

  it('two checkpointer instances ticking in turn seal everything between them, each chain unforked', async () => {
    const e = await newTenant();
    const f = await newTenant();
    const one = createCheckpointer(deps());
    const two = createCheckpointer(deps());
    await append(e, 3);
    expect(await one.tick()).toMatchObject({ scan: 'full', rows: 3 });
    await append(f, 4);
    expect(await two.tick()).toMatchObject({ scan: 'full', rows: 4 });
    await append(e, 5);
    await append(f, 2);
    // one's range covers f's 4 rows that two sealed (nothing to do) and the 7 new ones.
    expect(await one.tick()).toMatchObject({ scan: 'incremental', candidates: 2, rows: 7 });
    await append(e, 1);
    // two's range covers e's 5 and f's 2 rows that one sealed: only e's last row is left.
    expect(await two.tick()).toMatchObject({ scan: 'incremental', candidates: 2, checkpoints: 1, rows: 1 });
    await append(f, 6);
    expect(await one.tick()).toMatchObject({ scan: 'incremental', rows: 6 });
    expect(await verify(e)).toMatchObject({ ok: true, checkpoints: 3, rowsVerified: 9, unsealedRows: 0 });
    expect(await verify(f)).toMatchObject({ ok: true, checkpoints: 3, rowsVerified: 12, unsealedRows: 0 });
  });

  it('an incremental tick reads only the new rows (a primary-key range), not the 20 000 sealed ones before them', async () => {
    const big = await newTenant();
    const small = await newTenant();
    await append(big, 20_000);
    // The checkpointer's connections go through a proxy that records every statement it executes.
    const pg = new URL(t.appUrl);
    const counter = await startPgQueryCounter({ host: pg.hostname, port: Number(pg.port || 5432) });
    const watched = createDb(counter.urlFor(t.appUrl), { max: 4 });
    try {
      const c = createCheckpointer(deps({ sql: watched.sql, maxRows: 5_000 }));
      const first = await c.tick();
      expect(first).toMatchObject({ scan: 'full' });
      expect(await unsealed(big)).toBe(0);
      await append(small, 10);
      counter.reset();
      const second = await c.tick();
      expect(second).toMatchObject({ scan: 'incremental', candidates: 1, rows: 10 });
      // Which tenants to seal: one statement, and not the whole-table one (it joins tenants).
      expect(counter.count(/\bfrom tenants\b/)).toBe(0);
      const candidates = counter.executed.filter((q) => /select distinct tenant_id from audit_events/.test(q));
      expect(candidates).toHaveLength(1);
      // That statement with this tick's range, planned generically as a prepared statement is after a
      // few runs, on statistics as autovacuum keeps them: an index range scan reading the 10 new rows.
      await t.owner.sql`analyze audit_events`;
      const plan = await genericPlan(t.owner.sql, candidates[0]!, { bigint: [String(first.horizon), String(second.horizon)] });
      const scans = planNodes(plan).filter((n) => n['Relation Name'] === 'audit_events');
      // Rows visited: those returned plus those the scan read and filtered out.
      const visited = (n: PlanNode) => n['Actual Rows'] + (n['Rows Removed by Filter'] ?? 0);
      expect(scans.map((n) => [n['Node Type'], n['Index Name'], visited(n)])).toEqual([['Index Scan', 'audit_events_pkey', 10]]);
    } finally {
      await watched.close();
      await counter.close();
    }
  });

  it('a row an incremental tick cannot see (an explicit id below its previous horizon) is sealed by the periodic full tick', async () => {
    const late = await newTenant();
    const filler = await newTenant();
    const c = createCheckpointer(deps(), { fullScanEvery: 2 }); // full, incremental, full, …
    // An id the sequence handed out to an insert that rolled back: the app role may still use it.
    const gap = await t.app.sql
      .begin(async (tx) => {
        const [r] = await tx`insert into audit_events (tenant_id, action, decision) values (${late}, 'rolled.back', 'info') returning id::int as id`;
        throw Object.assign(new Error('roll back'), { id: r!.id as number });
      })
      .catch((e: { id: number }) => e.id);
    await append(filler, 1); // a higher id: the first tick's horizon lies above the gap
    expect(await c.tick()).toMatchObject({ scan: 'full', rows: 1 });
    await t.app.sql`insert into audit_events (id, tenant_id, action, decision) values (${gap}, ${late}, 'explicit.id', 'info')`;
    expect(await c.tick()).toMatchObject({ scan: 'incremental', candidates: 0 });
    expect(await unsealed(late)).toBe(1);
    expect(await c.tick()).toMatchObject({ scan: 'full', candidates: 1, rows: 1 });
    expect(await unsealed(late)).toBe(0);
    expect(await verify(late)).toMatchObject({ ok: true, rowsVerified: 1 });
  });
});
