import { and, eq, sql } from 'drizzle-orm';
import type { Executor } from '@mcprt/db';
import { toolCalls } from '@mcprt/db';

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
 * A `running` call whose job no longer exists (Redis lost it) back to `queued` with fencing token 0,
 * so the job the reconciler adds again (its attempt count restarts at 1) may write it. Compare-and-set
 * on the token seen: a worker that wrote meanwhile wins and the call is left alone.
 */
export async function requeueLostRunningCall(db: Executor, tenantId: string, id: string, seenAttempt: number): Promise<boolean> {
  const rows = await db
    .update(toolCalls)
    .set({ status: 'queued', attempt: 0 })
    .where(and(eq(toolCalls.tenantId, tenantId), eq(toolCalls.id, id), eq(toolCalls.status, 'running'), eq(toolCalls.attempt, seenAttempt)))
    .returning({ id: toolCalls.id });
  return rows.length === 1;
}
