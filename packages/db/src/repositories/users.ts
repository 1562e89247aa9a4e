import { and, desc, eq, sql } from 'drizzle-orm';
import type { Executor } from '../client.js';
import { users } from '../schema.js';

export type User = typeof users.$inferSelect;

export function usersRepository(db: Executor, tenantId: string) {
  return {
    /** A user is (tenant, issuer, subject); created on first sight, profile refreshed after. */
    async upsert(u: { issuer: string; subject: string; email?: string | null; displayName?: string | null }): Promise<User> {
      const [row] = await db
        .insert(users)
        .values({ tenantId, issuer: u.issuer, subject: u.subject, email: u.email ?? null, displayName: u.displayName ?? null })
        .onConflictDoUpdate({
          target: [users.tenantId, users.issuer, users.subject],
          set: { email: sql`coalesce(excluded.email, ${users.email})`, displayName: sql`coalesce(excluded.display_name, ${users.displayName})` },
        })
        .returning();
      return row!;
    },
    async byId(id: string): Promise<User | undefined> {
      return db.query.users.findFirst({ where: and(eq(users.tenantId, tenantId), eq(users.id, id)) });
    },
    /** The tenant's users, newest first, `limit` after `offset` (the admin console's list). */
    async list(limit: number, offset = 0): Promise<User[]> {
      return db.select().from(users).where(eq(users.tenantId, tenantId)).orderBy(desc(users.createdAt), desc(users.id)).limit(limit).offset(offset);
    },
    async bySubject(issuer: string, subject: string): Promise<User | undefined> {
      return db.query.users.findFirst({ where: and(eq(users.tenantId, tenantId), eq(users.issuer, issuer), eq(users.subject, subject)) });
    },
  };
}
