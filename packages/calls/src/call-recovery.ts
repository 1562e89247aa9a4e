import { and, eq, inArray, sql } from 'drizzle-orm';
import type { Executor } from '@mcprt/db';
import { PENDING_STATUSES } from './call-states.js';
import { toolCalls } from './schema.js';

/**
 * System-wide scan for the reconciler's lease sweep: calls `running` (marked by a worker, or waiting
 * for a retry) since before `olderThanMs`. Not tenant-scoped on purpose, like findStaleQueuedCalls;
 * it returns ids, tenant ids and fencing tokens only. `status = 'running'` implies the predicate of
 * the partial index `tool_calls_user_pending`, so the scan never reads final rows.
 */
export async function findStaleRunningCalls(db: Executor, olderThanMs: number, limit: number) {
  return db
    .select({ id: toolCalls.id, tenantId: toolCalls.tenantId, attempt: toolCalls.attempt })
    .from(toolCalls)
    .where(
      and(
        eq(toolCalls.status, 'running'),
        sql`coalesce(${toolCalls.startedAt}, ${toolCalls.createdAt}) < now() - make_interval(secs => ${olderThanMs / 1000})`,
      ),
    )
    .orderBy(toolCalls.createdAt)
    .limit(limit);
}

/**
 * System-wide scan for the reconciler: calls still `queued` after `olderThanMs`. Not tenant-scoped on
 * purpose (the reconciler serves every tenant); it returns ids and tenant ids only, and every follow-up
 * goes through the tenant-scoped repositories.
 */
export async function findStaleQueuedCalls(db: Executor, olderThanMs: number, limit: number) {
  return db
    .select({ id: toolCalls.id, tenantId: toolCalls.tenantId })
    .from(toolCalls)
    .where(and(eq(toolCalls.status, 'queued'), sql`${toolCalls.createdAt} < now() - make_interval(secs => ${olderThanMs / 1000})`))
    .orderBy(toolCalls.createdAt)
    .limit(limit);
}

/**
 * System-wide, for the metrics (`mcprt_calls_oldest_pending_seconds`): how long the oldest `queued`
 * call has waited since it was recorded and the oldest `running` one since it started. Both statuses
 * are in the partial index `tool_calls_user_pending`, so this never reads final rows.
 */
export async function oldestPendingCalls(db: Executor): Promise<{ status: string; oldestSeconds: number }[]> {
  const since = sql`case when ${toolCalls.status} = 'running' then coalesce(${toolCalls.startedAt}, ${toolCalls.createdAt}) else ${toolCalls.createdAt} end`;
  const rows = await db
    .select({ status: toolCalls.status, oldestSeconds: sql<string>`extract(epoch from now() - min(${since}))` })
    .from(toolCalls)
    .where(inArray(toolCalls.status, PENDING_STATUSES))
    .groupBy(toolCalls.status);
  return rows.map((r) => ({ status: r.status, oldestSeconds: Math.max(0, Number(r.oldestSeconds)) }));
}
