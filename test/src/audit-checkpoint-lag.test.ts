import { auditCheckpointLagSeconds, auditTrail, createCheckpointer, oldestUnsealed } from '@mcprt/audit';
import { createDb } from '@mcprt/db';
import { describe, expect, it } from 'vitest';
import { auditTestDb } from './harness/audit-db.js';
import { genericPlan, scansOf } from './harness/pg-plan.js';
import { startPgQueryCounter } from './harness/pg-query-counter.js';

/**
 * The checkpoint lag (`mcprt_audit_checkpoint_lag_seconds`, read at every scrape), the stale-row alarm
 * (oldestUnsealed) and the checkpointer's sealing read find where a tenant's unsealed rows start by a
 * descent of audit_tenant_id (migration 0019): their cost does not grow with the rows other tenants
 * wrote since a tenant's last checkpoint, and the gauge still means the age of the oldest unsealed row.
 */
describe('audit checkpoint lag: value and cost (real Postgres)', () => {
  const t = auditTestDb('ckpt-lag', { maxRows: 5_000 });
  const { deps, newTenant } = t;
  /** `count` audit rows for the tenant dated `ago` back (the check allows any time up to now()), as the app role; their last id. */
  const append = async (tenantId: string, count: number, ago = '0 seconds') => {
    const rows = await t.app.sql`insert into audit_events (tenant_id, tool, action, decision, at)
      select ${tenantId}, 'echo', 'tool_call.accepted', 'allow', now() - ${ago}::interval from generate_series(1, ${count})
      returning id::int as id`;
    return Math.max(...rows.map((r) => r.id as number));
  };
  const ageSeconds = async (id: number) => Number((await t.owner.sql`select extract(epoch from now() - at) as s from audit_events where id = ${id}`)[0]!.s);

  it('the lag is the age of the oldest row after its tenant’s last checkpoint, not of older sealed ones; 0 once all are sealed', async () => {
    const idle = await newTenant();
    const busy = await newTenant();
    const fresh = await newTenant();
    const checkpointer = createCheckpointer(deps());
    await append(idle, 3, '2 hours');
    await append(busy, 2, '90 minutes');
    expect(await checkpointer.tick()).toMatchObject({ settled: true, rows: 5 });
    expect(await auditCheckpointLagSeconds(t.app.sql)).toBe(0);
    // busy: a row 10 minutes old after its checkpoint; fresh: a new row and no checkpoint at all.
    const late = await append(busy, 1, '10 minutes');
    await append(fresh, 1);
    const lag = await auditCheckpointLagSeconds(t.app.sql);
    expect(Math.abs(lag - (await ageSeconds(late)))).toBeLessThan(2);
    expect(lag).toBeGreaterThan(590);
    const stale = await oldestUnsealed(t.app.sql, [idle, busy, fresh], Number.MAX_SAFE_INTEGER);
    expect(stale.map((s) => s.tenantId).sort()).toEqual([busy, fresh].sort());
    expect(stale.find((s) => s.tenantId === busy)!.ageMs).toBeGreaterThan(590_000);
    // Rows above upToId are not counted (the checkpointer asks up to its horizon).
    expect(await oldestUnsealed(t.app.sql, [busy, fresh], late - 1)).toEqual([]);
    expect(await checkpointer.tick()).toMatchObject({ rows: 2 });
    expect(await auditCheckpointLagSeconds(t.app.sql)).toBe(0);
    expect(await oldestUnsealed(t.app.sql, [idle, busy, fresh], Number.MAX_SAFE_INTEGER)).toEqual([]);
  });

  it('gauge, stale-row alarm and sealing read each visit a few rows, not the 20 000 sealed since an idle tenant’s checkpoint', async () => {
    const idle = await newTenant();
    const big = await newTenant();
    const checkpointer = createCheckpointer(deps());
    await append(idle, 2);
    await append(big, 20_000);
    await checkpointer.tick();
    const sealed = Number((await t.owner.sql`select max(last_id) as id from audit_checkpoints where tenant_id = ${idle}`)[0]!.id);
    const woke = await append(idle, 1);
    // The checkpointer's and the scrape's statements, as sent: through a proxy that records them.
    const pg = new URL(t.appUrl);
    const counter = await startPgQueryCounter({ host: pg.hostname, port: Number(pg.port || 5432) });
    const watched = createDb(counter.urlFor(t.appUrl), { max: 2 });
    try {
      expect(await auditCheckpointLagSeconds(watched.sql)).toBeGreaterThanOrEqual(0);
      expect(await oldestUnsealed(watched.sql, [idle, big], woke)).toHaveLength(1);
      const read: number[] = [];
      for await (const r of auditTrail(watched.sql, idle).rowsBetween(sealed, woke)) read.push(r.id);
      expect(read).toEqual([woke]);
      // An export (`GET …/audit/export`) reads the same range with its filters.
      const exported: number[] = [];
      for await (const r of auditTrail(watched.sql, idle).rowsMatching({ tool: 'echo', action: 'tool_call.accepted' }, sealed, woke)) exported.push(r.id);
      expect(exported).toEqual([woke]);
      // The history's newest page (`GET …/audit`), and the page before a cursor.
      const newest = await auditTrail(watched.sql, idle).page({ tool: 'echo' }, null, 2);
      expect(newest.map((r) => r.id)).toEqual([woke, sealed]);
      expect((await auditTrail(watched.sql, idle).page({ tool: 'echo' }, woke, 1)).map((r) => r.id)).toEqual([sealed]);
      const sent = (re: RegExp) => counter.first(re);
      const [gauge, alarm, sealing, exporting] = [
        sent(/from tenants t/),
        sent(/unnest\(/),
        sent(/^select id::text as id(?![^]*and tool =)/),
        sent(/and tool =[^]*order by audit_events.id$/),
      ];
      const paging = sent(/and \(tenant_id, id\) < [^]*desc limit/);
      const newestPage = sent(/where tenant_id = \$1\s+and tool =[^]*desc limit/);
      await t.owner.sql`analyze audit_events`;
      await t.owner.sql`analyze audit_checkpoints`;
      const tenants = Number((await t.owner.sql`select count(*) as n from tenants`)[0]!.n);
      // Planned generically, as a prepared statement is after a few runs: parameters by their inferred types.
      const args = (...bigint: number[]) => ({
        uuid: `'${idle}'`,
        'uuid[]': `array['${idle}', '${big}']::uuid[]`,
        bigint: bigint.map(String),
        text: ["'echo'", "'tool_call.accepted'"],
      });
      const costs = [];
      for (const [name, statement, bound, values] of [
        ['gauge', gauge, tenants * 2, args()],
        ['alarm', alarm, 2 * 2, args(woke)],
        ['sealing', sealing, 3, args(sealed, woke)],
        ['export', exporting, 3, args(sealed, woke)],
        ['page', paging, 3, args(woke, 1)],
        ['newest page', newestPage, 3, args(2)],
      ] as const) {
        // Rows visited: those returned plus those read and filtered out, over every loop.
        const { visited, indexes } = scansOf(await genericPlan(t.owner.sql, statement, values), 'audit_events');
        costs.push({ name, visited, bound, indexes });
      }
      expect(costs.filter((c) => c.visited > c.bound)).toEqual([]);
      // The gauge's and the alarm's probes go through the (tenant_id, id) index, whatever the statistics say;
      // the sealing read and the export start at the tenant's first row after the checkpoint.
      expect(costs.filter((c) => c.name === 'gauge' || c.name === 'alarm').map((c) => c.indexes)).toEqual([
        ['Index Scan audit_tenant_id'],
        ['Index Scan audit_tenant_id'],
      ]);
    } finally {
      await watched.close();
      await counter.close();
    }
  });
});
