import { and, desc, eq } from 'drizzle-orm';
import type { Executor } from '../client.js';
import { auditEvents } from '../schema.js';

export type AuditEvent = typeof auditEvents.$inferSelect;
export type NewAuditEvent = Omit<typeof auditEvents.$inferInsert, 'id' | 'tenantId' | 'at'>;

/** Append-only: there is deliberately no update or delete here, and the database refuses them too. */
export function auditRepository(db: Executor, tenantId: string) {
  return {
    async append(...events: NewAuditEvent[]): Promise<void> {
      if (events.length === 0) return;
      await db.insert(auditEvents).values(events.map((e) => ({ ...e, tenantId })));
    },
    async forUser(userId: string, limit = 100): Promise<AuditEvent[]> {
      return db
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.tenantId, tenantId), eq(auditEvents.userId, userId)))
        .orderBy(desc(auditEvents.id))
        .limit(limit);
    },
    async forCall(callId: string): Promise<AuditEvent[]> {
      return db
        .select()
        .from(auditEvents)
        .where(and(eq(auditEvents.tenantId, tenantId), eq(auditEvents.callId, callId)))
        .orderBy(auditEvents.id);
    },
  };
}
