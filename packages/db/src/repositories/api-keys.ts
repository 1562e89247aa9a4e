import { and, desc, eq, isNull } from 'drizzle-orm';
import type postgres from 'postgres';
import type { Executor } from '../client.js';
import { tenantApiKeys } from '../schema.js';

export type TenantApiKey = typeof tenantApiKeys.$inferSelect;

/** A tenant's back-office API keys (stored hashed). Tenant-scoped like every repository. */
export function apiKeysRepository(db: Executor, tenantId: string) {
  return {
    async create(k: { id: string; name: string; secretHash: string; scopes: string[] }): Promise<TenantApiKey> {
      const [row] = await db
        .insert(tenantApiKeys)
        .values({ ...k, tenantId })
        .returning();
      return row!;
    },
    async list(): Promise<TenantApiKey[]> {
      return db.select().from(tenantApiKeys).where(eq(tenantApiKeys.tenantId, tenantId)).orderBy(desc(tenantApiKeys.createdAt));
    },
    /** The key, only if it belongs to this tenant (a key of tenant A presented at tenant B is unknown there). */
    async byId(id: string): Promise<TenantApiKey | undefined> {
      const [row] = await db
        .select()
        .from(tenantApiKeys)
        .where(and(eq(tenantApiKeys.tenantId, tenantId), eq(tenantApiKeys.id, id)));
      return row;
    },
    async revoke(id: string): Promise<boolean> {
      const rows = await db
        .update(tenantApiKeys)
        .set({ revokedAt: new Date() })
        .where(and(eq(tenantApiKeys.tenantId, tenantId), eq(tenantApiKeys.id, id), isNull(tenantApiKeys.revokedAt)))
        .returning({ id: tenantApiKeys.id });
      return rows.length === 1;
    },
  };
}

/**
 * One use of a key, in one statement: its audit row (`api_key.used`, the route and request id) and
 * `last_used_at`, refreshed at most once a minute so a busy key does not rewrite its row per request.
 */
export async function recordApiKeyUse(
  sql: postgres.Sql,
  u: { tenantId: string; keyId: string; route: string; requestId: string; decision: 'allow' | 'deny'; reason?: string | null },
): Promise<void> {
  await sql`
    with touch as (
      update tenant_api_keys set last_used_at = now()
      where tenant_id = ${u.tenantId} and id = ${u.keyId} and (last_used_at is null or last_used_at < now() - interval '1 minute')
    )
    insert into audit_events (tenant_id, client_id, action, decision, reason, request_id)
    values (${u.tenantId}, ${`api_key:${u.keyId}`}, ${`api_key.${u.route}`}, ${u.decision}, ${u.reason ?? null}, ${u.requestId})`;
}
