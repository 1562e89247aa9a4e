import type postgres from 'postgres';
import type { AuditRowForm, SealedCheckpoint } from './audit-chain.js';

/**
 * Statements of the verifiable audit trail and of the history APIs (docs/audit.md), bound
 * to one tenant like the tenant-scoped repositories of @mcprt/db. Raw postgres.js because the rows stream
 * through server-side cursors (an export of any size in constant memory) and because `at` must come
 * out with its microseconds, as text, exactly as it is hashed.
 */

/** A checkpoint as stored: its `pruned` is the database's verdict, not a stored flag. */
export interface CheckpointRow extends SealedCheckpoint {
  /**
   * Its rows were removed by retention: none of the rows of its id range exists AND the sweep's log
   * says it removed them under a retention that agrees with the floor (database function
   * audit_checkpoint_pruned, migration 0009). A log row alone never makes this true.
   */
  pruned: boolean;
}

export interface AuditFilter {
  userId?: string | undefined;
  tool?: string | undefined;
  action?: string | undefined;
  decision?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
}

type Row = Record<string, unknown>;

const toRow = (r: Row): AuditRowForm => ({
  id: Number(r.id),
  tenantId: r.tenant_id as string,
  userId: (r.user_id as string | null) ?? null,
  clientId: (r.client_id as string | null) ?? null,
  callId: (r.call_id as string | null) ?? null,
  tool: (r.tool as string | null) ?? null,
  action: r.action as string,
  decision: r.decision as string,
  reason: (r.reason as string | null) ?? null,
  requestId: (r.request_id as string | null) ?? null,
  at: r.at as string,
});

const toCheckpoint = (r: Row): CheckpointRow => ({
  tenantId: r.tenant_id as string,
  seq: r.seq as number,
  firstId: Number(r.first_id),
  lastId: Number(r.last_id),
  count: r.row_count as number,
  minAt: r.min_at as string,
  maxAt: r.max_at as string,
  rowsHash: r.rows_hash as string,
  prevHash: r.prev_hash as string,
  hash: r.hash as string,
  keyId: r.key_id as string,
  signature: r.signature as string,
  ids: (r.ids as (string | number)[]).map(Number),
  leaves: r.leaves as Buffer,
  pruned: r.pruned === true,
});

export function auditTrail(sql: postgres.Sql, tenantId: string) {
  const columns = sql`id::text as id, tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id,
    to_char(at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as at`;
  const filter = (f: AuditFilter) => sql`
    ${f.userId ? sql`and user_id = ${f.userId}` : sql``}
    ${f.tool ? sql`and tool = ${f.tool}` : sql``}
    ${f.action ? sql`and action = ${f.action}` : sql``}
    ${f.decision ? sql`and decision = ${f.decision}` : sql``}
    ${f.since ? sql`and at >= ${f.since.toISOString()}::timestamptz` : sql``}
    ${f.until ? sql`and at < ${f.until.toISOString()}::timestamptz` : sql``}`;
  /** The tenant's rows with afterId < id ≤ upToId, bounded below by the tenant's first row after afterId. */
  const range = (afterId: number, upToId: number | null) => sql`tenant_id = ${tenantId}
    and id >= (select f.id from ${firstRowAfter(sql, sql`${tenantId}::uuid`, sql`${afterId}::bigint`)} where f.tenant_id = ${tenantId})
    ${upToId === null ? sql`` : sql`and id <= ${upToId}`}`;
  const checkpointColumns = sql`c.tenant_id, c.seq, c.first_id::text, c.last_id::text, c.row_count, c.min_at, c.max_at, c.rows_hash, c.prev_hash,
    c.hash, c.key_id, c.signature, c.ids::text[] as ids, c.leaves,
    audit_checkpoint_pruned(c.tenant_id, c.seq, c.first_id, c.last_id, c.max_at) as pruned`;

  return {
    /**
     * Rows with afterId < id ≤ upToId in id order, through a server-side cursor of `batch` rows. The
     * range starts at the tenant's first row after afterId (firstRowAfter): however the statement is
     * planned, a tenant idle since afterId never costs a scan of the rows other tenants wrote since.
     */
    async *rowsBetween(afterId: number, upToId: number | null, batch = 1_000): AsyncGenerator<AuditRowForm> {
      const cursor = sql`select ${columns} from audit_events where ${range(afterId, upToId)} order by audit_events.id`.cursor(batch);
      for await (const rows of cursor) for (const r of rows as Row[]) yield toRow(r);
    },

    /** Filtered rows in id order (an export), through a cursor; the same range as rowsBetween. */
    async *rowsMatching(f: AuditFilter, afterId: number, upToId: number | null, batch = 1_000): AsyncGenerator<AuditRowForm> {
      const cursor = sql`select ${columns} from audit_events where ${range(afterId, upToId)} ${filter(f)} order by audit_events.id`.cursor(batch);
      for await (const rows of cursor) for (const r of rows as Row[]) yield toRow(r);
    },

    /**
     * A page of history, newest first. Keyset on id: the cursor is the last id shown, so rows inserted
     * meanwhile (higher ids) never shift a page, and none is skipped or repeated. The keyset and the
     * order are on (tenant_id, id), the audit_tenant_id index: however the statement is planned, a page
     * before a cursor never walks the rows other tenants wrote since (by id alone, a generic plan took
     * the primary key and did).
     */
    async page(f: AuditFilter, beforeId: number | null, limit: number): Promise<AuditRowForm[]> {
      const rows = await sql`select ${columns} from audit_events where tenant_id = ${tenantId}
        ${beforeId === null ? sql`` : sql`and (tenant_id, id) < (${tenantId}::uuid, ${beforeId}::bigint)`} ${filter(f)}
        order by audit_events.tenant_id desc, audit_events.id desc limit ${limit}`;
      return (rows as Row[]).map(toRow);
    },

    async lastCheckpoint(): Promise<CheckpointRow | undefined> {
      const [r] = await sql`select ${checkpointColumns} from audit_checkpoints c where c.tenant_id = ${tenantId} order by c.seq desc limit 1`;
      return r ? toCheckpoint(r) : undefined;
    },

    /** Checkpoints in seq order, from `fromSeq`, `batch` at a time (each carries its ids and leaves). */
    async *checkpoints(fromSeq = 1, batch = 20): AsyncGenerator<CheckpointRow> {
      const cursor = sql`select ${checkpointColumns} from audit_checkpoints c where c.tenant_id = ${tenantId} and c.seq >= ${fromSeq} order by c.seq`.cursor(
        batch,
      );
      for await (const rows of cursor) for (const r of rows as Row[]) yield toCheckpoint(r);
    },

    /** The first checkpoint whose rows reach `since` (its maxAt ≥ since); undefined when none does. */
    async firstCheckpointReaching(since: Date): Promise<number | undefined> {
      const [r] =
        await sql`select min(seq) as seq from audit_checkpoints where tenant_id = ${tenantId} and max_at::timestamptz >= ${since.toISOString()}::timestamptz`;
      return (r?.seq as number | null) ?? undefined;
    },

    /**
     * Append a checkpoint through the database's `audit_checkpoint_append` (the app role has no INSERT
     * on the table): the database recomputes ids, leaves, rows hash, times, link and hash from the
     * tenant's rows and raises (check_violation) unless what is sent agrees. False when another
     * checkpointer wrote this seq first.
     */
    async insertCheckpoint(c: Omit<CheckpointRow, 'pruned' | 'ids' | 'leaves'>): Promise<boolean> {
      const [r] = await sql`select audit_checkpoint_append(${tenantId}, ${c.seq}, ${c.firstId}, ${c.lastId}, ${c.count}, ${c.minAt}, ${c.maxAt},
        ${c.rowsHash}, ${c.prevHash}, ${c.keyId}, ${c.hash}, ${c.signature}) as written`;
      return r!.written === true;
    },

    /**
     * Retention (docs/audit.md "Retention"): the owner's narrow function removes one expired checkpoint's
     * rows, or names the checkpoint it refused to use (`refused`: why it does not hold up).
     */
    async sweepOneCheckpoint(): Promise<{ checkpointSeq: number; rowsDeleted: number; refused?: string } | undefined> {
      const [r] = await sql`select checkpoint_seq, rows_deleted, refused from audit_retention_sweep(${tenantId})`;
      if (!r) return undefined;
      return {
        checkpointSeq: r.checkpoint_seq as number,
        rowsDeleted: r.rows_deleted as number,
        ...(r.refused ? { refused: r.refused as string } : {}),
      };
    },
  };
}

export type AuditTrail = ReturnType<typeof auditTrail>;

/**
 * The sealing horizon (docs/audit.md "Late commits"): the highest audit id visible now, and the
 * snapshot it was read in. Every id ≤ that horizon was handed out before this moment; once every
 * transaction that was open at this moment has ended (`horizonSettled`), no row with such an id can
 * still appear, so sealing up to it cannot skip a row that commits late.
 */
export async function auditHorizon(sql: postgres.Sql): Promise<{ maxId: number; snapshot: string }> {
  const [r] = await sql`select coalesce(max(id), 0)::text as max_id, pg_current_snapshot()::text as snap from audit_events`;
  return { maxId: Number(r!.max_id), snapshot: r!.snap as string };
}

export async function horizonSettled(sql: postgres.Sql, snapshot: string): Promise<boolean> {
  const [r] = await sql`select pg_snapshot_xmin(pg_current_snapshot()) >= pg_snapshot_xmax(${snapshot}::pg_snapshot) as settled`;
  return r!.settled === true;
}

/**
 * Tenants with audit rows past their last checkpoint and at most `upToId` (what a checkpointer tick has
 * to do), over the whole table: a checkpointer's first tick and its periodic full one. Each tenant's
 * last sealed id is read once (lateral), not once per audit row as a correlated subquery in the join
 * filter would be. With audit_tenant_id (migration 0019) the planner answers each `exists` by one probe
 * of that index (a nested loop, ≈ 1 ms for 25 tenants at 200 000 rows); without it, by reading the
 * table once (hash semi join).
 */
export async function tenantsWithUnsealedAudit(sql: postgres.Sql, upToId: number): Promise<string[]> {
  const rows = await sql`
    select t.id from tenants t
    cross join lateral (select coalesce(max(c.last_id), 0) as sealed from audit_checkpoints c where c.tenant_id = t.id) c
    where exists (select 1 from audit_events e where e.tenant_id = t.id and e.id > c.sealed and e.id <= ${upToId})`;
  return (rows as Row[]).map((r) => r.id as string);
}

/**
 * Tenants with audit rows afterId < id ≤ upToId: a range scan of the primary key that reads only those
 * rows (an incremental checkpointer tick: the rows since its previous horizon).
 */
export async function tenantsWithAuditBetween(sql: postgres.Sql, afterId: number, upToId: number): Promise<string[]> {
  if (upToId <= afterId) return [];
  const rows = await sql`select distinct tenant_id from audit_events where id > ${afterId} and id <= ${upToId}`;
  return (rows as Row[]).map((r) => r.tenant_id as string);
}

/**
 * The tenant's last sealed id: the last_id of its last checkpoint (0 without one), read by one descent
 * of the checkpoints' primary key (tenant_id, seq). The highest one too: audit_checkpoint_append
 * refuses a checkpoint whose last_id is not above the previous one's (migration 0009).
 */
const lastSealedId = (sql: postgres.Sql, tenant: postgres.Fragment) =>
  sql`coalesce((select c.last_id from audit_checkpoints c where c.tenant_id = ${tenant} order by c.seq desc limit 1), 0)`;

/**
 * `f`: the first audit row after (tenant, afterId) in (tenant_id, id) order — one descent of the
 * audit_tenant_id index (migration 0019). It belongs to the tenant (f.tenant_id = tenant) exactly when
 * the tenant has a row with id > afterId, and then it is the one with the lowest id. Written as a row
 * comparison ordered by both columns because no other index can serve that: with `tenant_id = … and
 * id > …` the planner, estimating a parameter's range as a third of the table, prefers the primary key
 * and reads every row of every tenant since afterId (measured: docs/audit.md "Checkpoint lag").
 */
const firstRowAfter = (sql: postgres.Sql, tenant: postgres.Fragment, afterId: postgres.Fragment) =>
  sql`(select e.tenant_id, e.id, e.at from audit_events e where (e.tenant_id, e.id) > (${tenant}, ${afterId})
    order by e.tenant_id, e.id limit 1) f`;

/**
 * Age of the oldest row after each tenant's last checkpoint, if at most `upToId` (tenants without one
 * are left out): per tenant two index descents (lastSealedId, firstRowAfter), whatever the size of the
 * table or the number of unsealed rows. "Oldest" is the first in id order, the next the checkpointer
 * seals: `at` is its transaction's start, so a row that drew a higher id in a transaction begun earlier
 * may carry an older `at`, by at most how long that transaction ran before its insert (the app's audit
 * inserts are single statements or short transactions: milliseconds). The exact min(at) would cost a read of every unsealed row.
 */
export async function oldestUnsealed(sql: postgres.Sql, tenantIds: string[], upToId: number): Promise<{ tenantId: string; ageMs: number }[]> {
  const rows = await sql`
    select t.id, extract(epoch from now() - f.at) * 1000 as age_ms
    from unnest(${tenantIds}::uuid[]) t(id)
    cross join lateral ${firstRowAfter(sql, sql`t.id`, lastSealedId(sql, sql`t.id`))}
    where f.tenant_id = t.id and f.id <= ${upToId}`;
  return (rows as Row[]).map((r) => ({ tenantId: r.id as string, ageMs: Number(r.age_ms) }));
}

/** A per-tenant advisory lock key for the checkpointer (one writer per tenant at a time). */
export async function tryTenantLock(sql: postgres.ReservedSql, purpose: string, tenantId: string): Promise<boolean> {
  const [r] = await sql`select pg_try_advisory_lock(hashtextextended(${`${purpose}:${tenantId}`}, 0)) as ok`;
  return r!.ok === true;
}

export async function releaseTenantLock(sql: postgres.ReservedSql, purpose: string, tenantId: string): Promise<void> {
  await sql`select pg_advisory_unlock(hashtextextended(${`${purpose}:${tenantId}`}, 0))`;
}

/**
 * For the metrics (`mcprt_audit_checkpoint_lag_seconds`, read at every scrape): the age of the oldest
 * audit row, over all tenants, that comes after its tenant's last checkpoint (0 when every row is
 * sealed), "oldest" as in oldestUnsealed. Per tenant two index descents: the cost grows with the number
 * of tenants, not with the table or the backlog, so the gauge still answers within the scrape's time
 * limit when the checkpointer has been down for hours.
 */
export async function auditCheckpointLagSeconds(sql: postgres.Sql): Promise<number> {
  const [row] = await sql`
    select coalesce(extract(epoch from now() - min(f.at)), 0) as lag
    from tenants t
    cross join lateral ${firstRowAfter(sql, sql`t.id`, lastSealedId(sql, sql`t.id`))}
    where f.tenant_id = t.id`;
  return Math.max(0, Number((row as Row | undefined)?.lag ?? 0));
}
