import { and, eq, inArray, ne, sql } from 'drizzle-orm';
import type { Executor } from '../client.js';
import { credentials } from '../schema.js';

export type Credential = typeof credentials.$inferSelect;

export interface CredentialWrite {
  userId: string;
  provider: string;
  accessTokenSealed: string;
  refreshTokenSealed: string | null;
  expiresAt: Date | null;
  scopes: string[];
  keyId: string;
}

/**
 * Rows hold only sealed tokens; sealing and opening is the credential vault's job (@mcprt/providers),
 * which binds each ciphertext to the row's id, so the id is chosen before sealing.
 */
export function credentialsRepository(db: Executor, tenantId: string) {
  return {
    async get(userId: string, provider: string): Promise<Credential | undefined> {
      return db.query.credentials.findFirst({
        where: and(eq(credentials.tenantId, tenantId), eq(credentials.userId, userId), eq(credentials.provider, provider)),
      });
    },
    async byId(id: string): Promise<Credential | undefined> {
      return db.query.credentials.findFirst({ where: and(eq(credentials.tenantId, tenantId), eq(credentials.id, id)) });
    },
    /** Insert or replace (tenant, user, provider); a replacement is a new sign-in: status back to active. */
    async put(id: string, c: CredentialWrite): Promise<Credential> {
      const [row] = await db
        .insert(credentials)
        .values({ id, tenantId, ...c })
        .onConflictDoUpdate({
          target: [credentials.tenantId, credentials.userId, credentials.provider],
          set: {
            accessTokenSealed: c.accessTokenSealed,
            refreshTokenSealed: c.refreshTokenSealed,
            expiresAt: c.expiresAt,
            scopes: c.scopes,
            keyId: c.keyId,
            status: 'active',
            version: sql`${credentials.version} + 1`,
            updatedAt: sql`now()`,
          },
        })
        .returning();
      return row!;
    },
    /** The credentials of these users (their connected providers), without opening anything. */
    async ofUsers(userIds: string[]): Promise<Credential[]> {
      if (userIds.length === 0) return [];
      return db
        .select()
        .from(credentials)
        .where(and(eq(credentials.tenantId, tenantId), inArray(credentials.userId, userIds)))
        .orderBy(credentials.provider);
    },
    /** Optimistic update: applies only if the row is still at `version`. Returns the new row or undefined. */
    async updateIfVersion(
      id: string,
      version: number,
      patch: Partial<Pick<Credential, 'accessTokenSealed' | 'refreshTokenSealed' | 'expiresAt' | 'scopes' | 'keyId' | 'status'>>,
    ): Promise<Credential | undefined> {
      const [row] = await db
        .update(credentials)
        .set({ ...patch, version: sql`${credentials.version} + 1`, updatedAt: sql`now()` })
        .where(and(eq(credentials.tenantId, tenantId), eq(credentials.id, id), eq(credentials.version, version)))
        .returning();
      return row;
    },
    /** Credentials sealed under any key but `activeKid` (for `keys rotate`). */
    async notSealedWith(activeKid: string, limit: number): Promise<Credential[]> {
      return db
        .select()
        .from(credentials)
        .where(and(eq(credentials.tenantId, tenantId), ne(credentials.keyId, activeKid)))
        .limit(limit);
    },
  };
}
