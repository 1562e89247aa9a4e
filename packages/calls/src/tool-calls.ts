import { and, count, eq, inArray, lte, sql } from 'drizzle-orm';
import type { Executor } from '@mcprt/db';
import { toolCalls, type ToolCall, type ToolCallError } from '@mcprt/db';

export type { ToolCall } from '@mcprt/db';
export type NewToolCall = Pick<ToolCall, 'id' | 'userId' | 'tool' | 'arguments'> & Partial<Pick<ToolCall, 'clientId' | 'idempotencyKey' | 'requestId'>>;

/**
 * The life of a call row, off the hot path. The hot statements (record, load, fenced finish) are in
 * call-statements.ts; writes here are fenced the same way: by `attempt` and status.
 */
export function toolCallsRepository(db: Executor, tenantId: string) {
  const scoped = (id: string) => and(eq(toolCalls.tenantId, tenantId), eq(toolCalls.id, id));
  return {
    async insert(c: NewToolCall): Promise<ToolCall> {
      const [row] = await db
        .insert(toolCalls)
        .values({ ...c, tenantId })
        .returning();
      return row!;
    },
    async byId(id: string): Promise<ToolCall | undefined> {
      return db.query.toolCalls.findFirst({ where: scoped(id) });
    },
    /** Owner check in the query itself: another user's call is indistinguishable from a missing one. */
    async byIdForUser(id: string, userId: string): Promise<ToolCall | undefined> {
      return db.query.toolCalls.findFirst({ where: and(scoped(id), eq(toolCalls.userId, userId)) });
    },
    async byIdempotencyKey(userId: string, key: string): Promise<ToolCall | undefined> {
      return db.query.toolCalls.findFirst({
        where: and(eq(toolCalls.tenantId, tenantId), eq(toolCalls.userId, userId), eq(toolCalls.idempotencyKey, key)),
      });
    },
    async countPending(userId: string): Promise<number> {
      const [row] = await db
        .select({ n: count() })
        .from(toolCalls)
        .where(and(eq(toolCalls.tenantId, tenantId), eq(toolCalls.userId, userId), inArray(toolCalls.status, ['queued', 'running'])));
      return row?.n ?? 0;
    },
    /** Record a transient failure of an attempt that will be retried (the row shows `running`). Fenced like finish. */
    async noteRetry(id: string, attempt: number, error: ToolCallError): Promise<boolean> {
      const rows = await db
        .update(toolCalls)
        .set({ error, status: 'running', attempt })
        .where(and(scoped(id), lte(toolCalls.attempt, attempt), inArray(toolCalls.status, ['queued', 'running'])))
        .returning({ id: toolCalls.id });
      return rows.length === 1;
    },
  };
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
