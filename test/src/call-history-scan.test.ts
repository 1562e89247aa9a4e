import { callHistory, FINAL_STATUSES, forTenant, withCallStatements } from '@mcprt/calls';
import { deleteExpiredCalls } from '@mcprt/audit';
import { createDb } from '@mcprt/db';
import { describe, expect, it } from 'vitest';
import { auditTestDb } from './harness/audit-db.js';
import { genericPlan, scansOf } from './harness/pg-plan.js';
import { startPgQueryCounter } from './harness/pg-query-counter.js';

/**
 * A tenant's calls in creation order (the history's tenant-wide pages, the retention sweep) are read
 * through tool_calls_tenant_created (migration 0020): their cost does not grow with the calls other
 * tenants made since. And that index, led by an expression, is never the hot path's: the final write
 * still goes by the call's id.
 */
describe('calls history: a tenant page visits that tenant’s rows only (real Postgres)', () => {
  const t = auditTestDb('call-history-scan', { maxRows: 5_000 });

  it('an idle tenant’s pages and retention sweep visit a few rows, not the 20 000 another tenant made since', async () => {
    const [idle, busy] = [await t.newTenant(), await t.newTenant()];
    const userOf = async (tenantId: string) => (await forTenant(t.app.db, tenantId).users.upsert({ issuer: 'https://h.example', subject: 'u' })).id;
    const [idleUser, busyUser] = [await userOf(idle), await userOf(busy)];
    const add = (tenantId: string, userId: string, n: number, ago: string, status: string) => t.app.sql`
      insert into tool_calls (id, tenant_id, user_id, tool, arguments, status, created_at, finished_at)
      select 'call_' || substr(md5(random()::text), 1, 22), ${tenantId}, ${userId}, 'echo', '{}', ${status}::tool_call_status,
        now() - ${ago}::interval - g * interval '1 millisecond', case when ${status} = 'queued' then null else now() - ${ago}::interval end
      from generate_series(1, ${n}) g`;
    await add(idle, idleUser, 3, '2 days', 'succeeded');
    await add(busy, busyUser, 20_000, '1 second', 'queued');

    const pg = new URL(t.appUrl);
    const counter = await startPgQueryCounter({ host: pg.hostname, port: Number(pg.port || 5432) });
    const watched = createDb(counter.urlFor(t.appUrl), { max: 2 });
    try {
      const history = callHistory(watched.sql, idle);
      const first = await history.page({}, null, 2);
      expect(first).toHaveLength(2);
      const rest = await history.page({}, { createdKey: first[1]!.createdKey, id: first[1]!.call.id }, 2);
      expect(rest).toHaveLength(1);
      // One user's page goes by that user's index (below), never through the tenant's.
      expect(await history.page({ userId: idleUser }, null, 2)).toHaveLength(2);
      // Nothing of another tenant, on any page.
      expect([...first, ...rest].every((r) => r.call.tenantId === idle)).toBe(true);
      // Retention (1 day) finds the idle tenant's three final calls, none of the busy tenant's.
      const retention = counter.executed.length;
      expect(await deleteExpiredCalls(watched.sql, idle, 1, 10)).toBe(3);
      const sweep = counter.executed.slice(retention).find((q) => /delete from tool_calls/.test(q));
      // A final write of one of the busy tenant's calls: the hot path's statement, as sent.
      const [busyCall] = await t.app.sql`select id from tool_calls where tenant_id = ${busy} limit 1`;
      const audit = { userId: busyUser, clientId: null, tool: 'echo', requestId: null };
      const finish = { id: busyCall!.id as string, attempt: 1, elapsedMs: 1, outcome: { status: 'succeeded' as const, result: 1 }, audit };
      expect(await withCallStatements(watched).calls.finish(busy, finish)).toBe(true);

      const sent = (re: RegExp) => counter.first(re);
      const newest = sent(/from tool_calls[^]*order by created_at desc, id desc\s+limit \$\d+$/);
      const after = sent(/and \(created_at, id\) < [^]*limit/);
      const finalWrite = sent(/update tool_calls t set status = v.status/);
      await t.owner.sql`analyze tool_calls`;
      const values = {
        uuid: `'${idle}'`,
        bigint: ['2'],
        text: [`'${rest[0]!.call.id}'`],
        'timestamp with time zone': `'${first[1]!.createdKey}'`,
        integer: '1',
      };
      const costs = [];
      for (const [name, statement] of [
        ['newest page', newest],
        ['page after a cursor', after],
      ] as const)
        costs.push({ name, ...scansOf(await genericPlan(t.owner.sql, statement, values), 'tool_calls') });
      // The sweep's walk, planned again (its rows are gone: it deletes nothing now).
      const sweepValues = { uuid: `'${idle}'`, integer: ['1', '1'], bigint: ['10'], tool_call_status: FINAL_STATUSES.map((x) => `'${x}'`) };
      costs.push({ name: 'retention', ...scansOf(await genericPlan(t.owner.sql, sweep!, sweepValues), 'tool_calls') });
      const userPage = sent(/and user_id = \$2/);
      costs.push({
        name: 'a user’s page',
        ...scansOf(await genericPlan(t.owner.sql, userPage, { ...values, uuid: [`'${idle}'`, `'${idleUser}'`] }), 'tool_calls'),
      });
      expect(costs.filter((c) => c.visited > 3)).toEqual([]);
      expect(costs.map((c) => c.indexes.includes('Index Scan tool_calls_tenant_created'))).toEqual([true, true, true, false]);
      expect(costs[3]!.indexes).toEqual(['Index Scan tool_calls_user_created']);
      // The hot path's final write is planned by the call's id or the tenant's pending calls, never through the history's index.
      const write = scansOf(
        await genericPlan(t.owner.sql, finalWrite, {
          jsonb: `'${JSON.stringify([{ id: finish.id, attempt: 1, elapsed_ms: 1, status: 'succeeded', result: { v: 1 } }])}'`,
          text: `'probe_channel'`,
          integer: '7900',
          uuid: `'${busy}'`,
          'text[]': `array['${finish.id}']`,
        }),
        'tool_calls',
      );
      expect(write.indexes.some((i) => i.includes('tool_calls_tenant_created'))).toBe(false);
      expect(write.visited).toBeLessThanOrEqual(3);
    } finally {
      await watched.close();
      await counter.close();
    }
  });
});
