import { and, eq, gt, inArray, isNotNull, isNull, lt, or, sql } from 'drizzle-orm';
import type { Executor } from '../client.js';
import { oidcStore, tenantSigningKeys } from '../schema.js';

export type OidcStoreRow = typeof oidcStore.$inferSelect;
export type TenantSigningKey = typeof tenantSigningKeys.$inferSelect;

/**
 * What the tenant's built-in authorization server (oidc-provider) keeps for one tenant: its rows
 * (codes, tokens, grants, sessions, clients) and its signing keys. Callers pass ids already hashed and
 * payloads already sealed: this layer only binds the tenant to every statement.
 */
export function oidcStoreRepository(db: Executor, tenantId: string) {
  return { ...oidcRows(db, tenantId), ...tenantLists(db, tenantId), ...signingKeys(db, tenantId) };
}

/** What an upsert replaces on an existing row: everything but the key (and `consumed_at`, set only by `consume`). */
const updatable = ({ payload, grantId, accountId, clientId, uid, userCode, expiresAt }: Omit<OidcStoreRow, 'tenantId' | 'consumedAt'>) => ({
  payload,
  grantId,
  accountId,
  clientId,
  uid,
  userCode,
  expiresAt,
});

function oidcRows(db: Executor, tenantId: string) {
  const key = (model: string, id: string) => and(eq(oidcStore.tenantId, tenantId), eq(oidcStore.model, model), eq(oidcStore.id, id));
  return {
    async upsert(row: Omit<OidcStoreRow, 'tenantId' | 'consumedAt'>): Promise<void> {
      await db
        .insert(oidcStore)
        .values({ ...row, tenantId })
        .onConflictDoUpdate({
          target: [oidcStore.tenantId, oidcStore.model, oidcStore.id],
          set: updatable(row),
        });
    },
    /** Writes the row unless one of that (model, id) exists: true when this call wrote it (atomic under concurrency). */
    async insertIfAbsent(row: Omit<OidcStoreRow, 'tenantId' | 'consumedAt'>): Promise<boolean> {
      const rows = await db
        .insert(oidcStore)
        .values({ ...row, tenantId })
        .onConflictDoNothing({ target: [oidcStore.tenantId, oidcStore.model, oidcStore.id] })
        .returning({ id: oidcStore.id });
      return rows.length > 0;
    },
    async find(model: string, id: string): Promise<OidcStoreRow | undefined> {
      const [row] = await db.select().from(oidcStore).where(key(model, id)).limit(1);
      return row;
    },
    /** The row, locked until the transaction ends (inside one: a read-modify-write of a payload, one writer at a time). */
    async findForUpdate(model: string, id: string): Promise<OidcStoreRow | undefined> {
      const [row] = await db.select().from(oidcStore).where(key(model, id)).limit(1).for('update');
      return row;
    },
    async findBy(model: string, column: 'uid' | 'userCode', value: string): Promise<OidcStoreRow | undefined> {
      const col = column === 'uid' ? oidcStore.uid : oidcStore.userCode;
      const [row] = await db
        .select()
        .from(oidcStore)
        .where(and(eq(oidcStore.tenantId, tenantId), eq(oidcStore.model, model), eq(col, value)))
        .limit(1);
      return row;
    },
    /** The unexpired rows of one model that belong to an account (hashed), newest first: the account page's grants. */
    async ofAccount(model: string, accountId: string): Promise<OidcStoreRow[]> {
      return db
        .select()
        .from(oidcStore)
        .where(
          and(
            eq(oidcStore.tenantId, tenantId),
            eq(oidcStore.accountId, accountId),
            eq(oidcStore.model, model),
            sql`(${oidcStore.expiresAt} is null or ${oidcStore.expiresAt} > now())`,
          ),
        )
        .limit(200);
    },
    /** Marks the row consumed once; false when it already was (or is gone). */
    async consume(model: string, id: string): Promise<boolean> {
      const rows = await db
        .update(oidcStore)
        .set({ consumedAt: sql`now()` })
        .where(and(key(model, id), sql`${oidcStore.consumedAt} is null`))
        .returning({ id: oidcStore.id });
      return rows.length > 0;
    },
    /**
     * A replayed code or refresh token revokes its grant: every row carrying the grant id of the row
     * `(model, id)` and the grant itself, in one statement (nothing when the row is already gone).
     */
    async revokeGrantOf(model: string, id: string): Promise<void> {
      await db.execute(sql`
        with g as (select grant_id from oidc_store where tenant_id = ${tenantId} and model = ${model} and id = ${id} and grant_id is not null)
        delete from oidc_store o using g
        where o.tenant_id = ${tenantId} and (o.grant_id = g.grant_id or (o.model = 'Grant' and o.id = g.grant_id))`);
    },
    /** Moves a row's expiry (a dynamically registered client that was just used lives on). */
    async touch(model: string, id: string, expiresAt: Date): Promise<void> {
      // Rows without an expiry (pre-registered clients) keep none.
      await db
        .update(oidcStore)
        .set({ expiresAt })
        .where(and(key(model, id), isNotNull(oidcStore.expiresAt)));
    },
    async destroy(model: string, id: string): Promise<void> {
      await db.delete(oidcStore).where(key(model, id));
    },
    /** Every model's rows of one grant (oidc-provider revokes a grant across tokens and codes). */
    async revokeByGrantId(grantId: string): Promise<void> {
      await db.delete(oidcStore).where(and(eq(oidcStore.tenantId, tenantId), eq(oidcStore.grantId, grantId)));
    },
  };
}

function signingKeys(db: Executor, tenantId: string) {
  return {
    async signingKeys(): Promise<TenantSigningKey[]> {
      return db
        .select()
        .from(tenantSigningKeys)
        .where(eq(tenantSigningKeys.tenantId, tenantId))
        .orderBy(sql`${tenantSigningKeys.createdAt} desc`);
    },
    /** A new signing key; the current ones are retired (they still verify). Returns how many were retired. */
    async rotateSigningKey(k: { kid: string; alg: string; privateJwkSealed: string }): Promise<number> {
      return db.transaction(async (tx) => {
        const retired = await tx
          .update(tenantSigningKeys)
          .set({ retiredAt: sql`now()` })
          .where(and(eq(tenantSigningKeys.tenantId, tenantId), isNull(tenantSigningKeys.retiredAt)))
          .returning({ kid: tenantSigningKeys.kid });
        await tx.insert(tenantSigningKeys).values({ tenantId, ...k });
        return retired.length;
      });
    },
    /** Re-seals one key in place (`keys rotate`): written only if the row still holds `from`. */
    /** Live rows (no expiry, or not expired) after `after` (`model` then `id`), in that order, at most `limit`: what `keys rotate` re-seals. */
    async liveRowsAfter(after: { model: string; id: string }, limit: number): Promise<{ model: string; id: string; payload: string }[]> {
      return db
        .select({ model: oidcStore.model, id: oidcStore.id, payload: oidcStore.payload })
        .from(oidcStore)
        .where(
          and(
            eq(oidcStore.tenantId, tenantId),
            sql`(${oidcStore.model}, ${oidcStore.id}) > (${after.model}, ${after.id})`,
            sql`(${oidcStore.expiresAt} is null or ${oidcStore.expiresAt} > now())`,
          ),
        )
        .orderBy(oidcStore.model, oidcStore.id)
        .limit(limit);
    },
    /** Compare-and-set of a row's sealed payload: `to` is written only if the row still holds `from`. */
    async replacePayload(model: string, id: string, from: string, to: string): Promise<boolean> {
      const rows = await db
        .update(oidcStore)
        .set({ payload: to })
        .where(and(eq(oidcStore.tenantId, tenantId), eq(oidcStore.model, model), eq(oidcStore.id, id), eq(oidcStore.payload, from)))
        .returning({ id: oidcStore.id });
      return rows.length === 1;
    },
    async replaceSealedSigningKey(kid: string, from: string, to: string): Promise<boolean> {
      const rows = await db
        .update(tenantSigningKeys)
        .set({ privateJwkSealed: to })
        .where(and(eq(tenantSigningKeys.tenantId, tenantId), eq(tenantSigningKeys.kid, kid), eq(tenantSigningKeys.privateJwkSealed, from)))
        .returning({ kid: tenantSigningKeys.kid });
      return rows.length === 1;
    },
    /** Inserts a key unless the tenant already has one (two replicas racing to create the first key). */
    async addFirstSigningKey(k: { kid: string; alg: string; privateJwkSealed: string }): Promise<void> {
      await db.execute(sql`
        insert into tenant_signing_keys (tenant_id, kid, alg, private_jwk_sealed)
        select ${tenantId}, ${k.kid}, ${k.alg}, ${k.privateJwkSealed}
        where not exists (select 1 from tenant_signing_keys where tenant_id = ${tenantId})`);
    },
  };
}

export type OidcStoreRepository = ReturnType<typeof oidcStoreRepository>;

/** Deletes oidc-provider rows of every tenant that expired more than `graceMs` ago. Returns the count. */
export async function sweepExpiredOidcRows(db: Executor, graceMs = 0): Promise<number> {
  const cutoff = new Date(Date.now() - graceMs);
  const rows = await db
    .delete(oidcStore)
    .where(and(isNotNull(oidcStore.expiresAt), lt(oidcStore.expiresAt, cutoff)))
    .returning({ id: oidcStore.id });
  return rows.length;
}

/** Lists over the whole tenant (the admin console's grants and clients). */
function tenantLists(db: Executor, tenantId: string) {
  return {
    /** The unexpired rows of one model of the whole tenant, newest first (the admin console's grants and clients). */
    async ofModel(model: string, limit: number): Promise<OidcStoreRow[]> {
      return db
        .select()
        .from(oidcStore)
        .where(and(eq(oidcStore.tenantId, tenantId), eq(oidcStore.model, model), sql`(${oidcStore.expiresAt} is null or ${oidcStore.expiresAt} > now())`))
        .orderBy(sql`${oidcStore.expiresAt} desc nulls first`)
        .limit(limit);
    },
    /**
     * One page, in id order after `afterId`, of a model's rows (expired ones too) that carry no client
     * column (written before it existed): the only rows whose client is found by opening them.
     */
    async pageWithoutClient(model: string, afterId: string, limit: number): Promise<Pick<OidcStoreRow, 'id' | 'payload' | 'expiresAt'>[]> {
      return db
        .select({ id: oidcStore.id, payload: oidcStore.payload, expiresAt: oidcStore.expiresAt })
        .from(oidcStore)
        .where(and(eq(oidcStore.tenantId, tenantId), eq(oidcStore.model, model), isNull(oidcStore.clientId), gt(oidcStore.id, afterId)))
        .orderBy(oidcStore.id)
        .limit(limit);
    },
    /** Unexpired grants per client (hashed id), from the client column. */
    async grantCountsByClient(): Promise<Map<string, number>> {
      const rows = await db
        .select({ clientId: oidcStore.clientId, n: sql<number>`count(*)::int` })
        .from(oidcStore)
        .where(
          and(
            eq(oidcStore.tenantId, tenantId),
            eq(oidcStore.model, 'Grant'),
            isNotNull(oidcStore.clientId),
            sql`(${oidcStore.expiresAt} is null or ${oidcStore.expiresAt} > now())`,
          ),
        )
        .groupBy(oidcStore.clientId);
      return new Map(rows.map((r) => [r.clientId!, r.n]));
    },
    /**
     * Deletes every row of a client (hashed id) by the client column, and every row of its grants: the
     * grants' own codes and tokens. Returns the grants (hashed ids) and the count of rows deleted.
     */
    async destroyClientRows(clientId: string): Promise<{ grants: string[]; rows: number }> {
      const rows = await db.execute<{ model: string; id: string }>(sql`
        delete from oidc_store o
        where o.tenant_id = ${tenantId}
          and (o.client_id = ${clientId}
            or o.grant_id in (select g.id from oidc_store g where g.tenant_id = ${tenantId} and g.model = 'Grant' and g.client_id = ${clientId}))
        returning o.model, o.id`);
      return { grants: rows.filter((r) => r.model === 'Grant').map((r) => r.id), rows: rows.length };
    },
    /** Deletes one row and returns it; undefined when it was not there (a concurrent delete of the same row waits for the first and gets nothing). */
    async take(model: string, id: string): Promise<OidcStoreRow | undefined> {
      const [row] = await db
        .delete(oidcStore)
        .where(and(eq(oidcStore.tenantId, tenantId), eq(oidcStore.model, model), eq(oidcStore.id, id)))
        .returning();
      return row;
    },
    /** Deletes these grants (hashed ids) and every row carrying one of them (codes, refresh tokens); the count of rows deleted. */
    async revokeGrants(grantIds: string[]): Promise<number> {
      if (grantIds.length === 0) return 0;
      const rows = await db
        .delete(oidcStore)
        .where(
          and(eq(oidcStore.tenantId, tenantId), or(inArray(oidcStore.grantId, grantIds), and(eq(oidcStore.model, 'Grant'), inArray(oidcStore.id, grantIds)))),
        )
        .returning({ id: oidcStore.id });
      return rows.length;
    },
    /** Deletes rows of one model by hashed id; the count deleted. */
    async destroyMany(model: string, ids: string[]): Promise<number> {
      if (ids.length === 0) return 0;
      const rows = await db
        .delete(oidcStore)
        .where(and(eq(oidcStore.tenantId, tenantId), eq(oidcStore.model, model), inArray(oidcStore.id, ids)))
        .returning({ id: oidcStore.id });
      return rows.length;
    },
  };
}
