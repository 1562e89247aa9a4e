import { and, count, eq, inArray, lte } from 'drizzle-orm';
import type { Executor } from '@mcprt/db';
import { PENDING_STATUSES } from './call-states.js';
import { toolCalls, type ToolCall, type ToolCallError } from './schema.js';

export type NewToolCall = Pick<ToolCall, 'id' | 'userId' | 'tool' | 'arguments'> & Partial<Pick<ToolCall, 'clientId' | 'idempotencyKey' | 'requestId'>>;

/**
 * The life of a call row, off the hot path. The hot statements (record, load, fenced finish) are in
 * statements/; writes here are fenced the same way: by `attempt` and status.
 */
export function toolCallsRepository(db: Executor, tenantId: string) {
  const scoped = (id: string) => and(eq(toolCalls.tenantId, tenantId), eq(toolCalls.id, id));
  const first = async (where: ReturnType<typeof and>): Promise<ToolCall | undefined> => {
    const [row] = await db.select().from(toolCalls).where(where).limit(1);
    return row;
  };
  return {
    async insert(c: NewToolCall): Promise<ToolCall> {
      const [row] = await db
        .insert(toolCalls)
        .values({ ...c, tenantId })
        .returning();
      return row!;
    },
    byId: (id: string): Promise<ToolCall | undefined> => first(scoped(id)),
    /** Owner check in the query itself: another user's call is indistinguishable from a missing one. */
    byIdForUser: (id: string, userId: string): Promise<ToolCall | undefined> => first(and(scoped(id), eq(toolCalls.userId, userId))),
    byIdempotencyKey: (userId: string, key: string): Promise<ToolCall | undefined> =>
      first(and(eq(toolCalls.tenantId, tenantId), eq(toolCalls.userId, userId), eq(toolCalls.idempotencyKey, key))),
    async countPending(userId: string): Promise<number> {
      const [row] = await db
        .select({ n: count() })
        .from(toolCalls)
        .where(and(eq(toolCalls.tenantId, tenantId), eq(toolCalls.userId, userId), inArray(toolCalls.status, PENDING_STATUSES)));
      return row?.n ?? 0;
    },
    /** Record a transient failure of an attempt that will be retried (the row shows `running`). Fenced like finish. */
    async noteRetry(id: string, attempt: number, error: ToolCallError): Promise<boolean> {
      const rows = await db
        .update(toolCalls)
        .set({ error, status: 'running', attempt })
        .where(and(scoped(id), lte(toolCalls.attempt, attempt), inArray(toolCalls.status, PENDING_STATUSES)))
        .returning({ id: toolCalls.id });
      return rows.length === 1;
    },
  };
}
