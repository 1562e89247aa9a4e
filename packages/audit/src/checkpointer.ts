import type { Keyring } from '@mcprt/keyring';
import type postgres from 'postgres';
import { auditLeaf, auditSigningKey, checkpointProblem, GENESIS_HASH, rowsHashOf, signedCheckpoint, type CheckpointPayload } from './audit-chain.js';
import {
  auditHorizon,
  auditTrail,
  horizonSettled,
  oldestUnsealed,
  releaseTenantLock,
  tenantsWithUnsealedAudit,
  tryTenantLock,
  type AuditTrail,
  type CheckpointRow,
} from './audit-trail.js';

/**
 * The audit checkpointer (docs/audit.md): off the hot path, it seals the audit rows
 * appended since each tenant's last checkpoint into a signed, chained checkpoint row. Audit inserts
 * stay plain appends; this reads each row once, later.
 *
 * One tick: read the horizon (highest visible id + snapshot), wait until every transaction open at
 * that moment has ended (so no id ≤ horizon can still commit), then per tenant with unsealed rows,
 * under a session advisory lock (one checkpointer per tenant across all workers), seal up to the
 * horizon in checkpoints of at most `maxRows` rows.
 *
 * Checkpoints are written through the database's `audit_checkpoint_append`, which recomputes every
 * field but the signature from the rows (migration 0009). The signature it cannot check: so before
 * chaining onto the tenant's last checkpoint the checkpointer verifies it (signature with the
 * keyring's audit keys, hash, rows hash) and refuses to chain onto one that does not verify: an
 * error-level log line naming the tenant and seq, and `mcprt_audit_integrity_failures_total`.
 */

/** What the audit's background jobs log to (the process logger). */
export interface AuditJobLog {
  info(o: object, m: string): void;
  warn(o: object, m: string): void;
  error(o: object, m: string): void;
}

/** Counts integrity failures by the job that met them (the worker's metrics registry). */
export interface IntegrityFailureCounter {
  inc(labels: { job: 'checkpointer' | 'retention' }): void;
}

export interface CheckpointerDeps {
  sql: postgres.Sql;
  keyring: Keyring;
  maxRows: number;
  settleMs: number;
  log: AuditJobLog;
  /** Counts checkpoints the checkpointer refused to chain onto. */
  integrityFailures?: IntegrityFailureCounter;
  /** Unsealed rows older than this, in a tenant this tick could not seal, are logged at error level (default STALE_UNSEALED_MS). */
  staleAfterMs?: number;
}

export interface TickResult {
  horizon: number;
  settled: boolean;
  checkpoints: number;
  rows: number;
  /** Tenants skipped because their last checkpoint does not verify. */
  refused: number;
}

const LOCK_PURPOSE = 'audit-checkpoint';

export async function checkpointTick(d: CheckpointerDeps): Promise<TickResult> {
  const { maxId, snapshot } = await auditHorizon(d.sql);
  const deadline = Date.now() + d.settleMs;
  let settled = await horizonSettled(d.sql, snapshot);
  while (!settled && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    settled = await horizonSettled(d.sql, snapshot);
  }
  if (!settled) {
    // A transaction open for longer than settleMs: sealing now could skip a row it may still commit.
    d.log.warn({ horizon: maxId }, 'audit checkpoint skipped: a transaction older than the settle time is still open');
    return { horizon: maxId, settled, checkpoints: 0, rows: 0, refused: 0 };
  }
  let checkpoints = 0;
  let rows = 0;
  let refused = 0;
  const unsealed: string[] = [];
  for (const tenantId of await tenantsWithUnsealedAudit(d.sql, maxId)) {
    let r;
    try {
      r = await sealTenant(d, tenantId, maxId);
    } catch (err) {
      // One tenant's failure (its checkpoint lock held by another session past the database's lock
      // timeout, a row the database refuses to seal) never stops the other tenants' checkpoints.
      d.log.error(
        { tenantId, err },
        `audit checkpointer: sealing tenant ${tenantId} failed (${err instanceof Error ? err.message : String(err)}); its newer rows stay unsealed, the other tenants go on`,
      );
      d.integrityFailures?.inc({ job: 'checkpointer' });
      unsealed.push(tenantId);
      continue;
    }
    checkpoints += r.checkpoints;
    rows += r.rows;
    if (r.refused) refused++;
    if (r.busy) unsealed.push(tenantId);
  }
  if (unsealed.length) await reportStale(d, unsealed, maxId);
  return { horizon: maxId, settled, checkpoints, rows, refused };
}

/** Unsealed rows older than this are an alarm (error level), whatever keeps them unsealed. */
export const STALE_UNSEALED_MS = 15 * 60_000;

/**
 * Tenants this tick could not seal because another session holds their checkpoint lock (another
 * worker sealing them now: normal) or because sealing failed: if their oldest unsealed row is older
 * than `staleAfterMs`, no worker has sealed them for that long, and an error-level line says so with
 * the lock to look for (any session of the app role can take an advisory lock: the denial is loud).
 */
async function reportStale(d: CheckpointerDeps, tenantIds: string[], horizon: number): Promise<void> {
  const staleMs = d.staleAfterMs ?? STALE_UNSEALED_MS;
  for (const { tenantId, ageMs } of await oldestUnsealed(d.sql, tenantIds, horizon)) {
    if (ageMs < staleMs) continue;
    d.log.error(
      { tenantId, unsealedForMs: ageMs },
      `audit checkpointer: tenant ${tenantId} has audit rows unsealed for ${Math.round(ageMs / 60_000)} min; no worker could take its checkpoint lock (pg_locks: advisory lock "${LOCK_PURPOSE}:${tenantId}" or "audit-checkpoint-append:${tenantId}") or sealing failed`,
    );
    d.integrityFailures?.inc({ job: 'checkpointer' });
  }
}

type SealResult = { checkpoints: number; rows: number; refused?: boolean; busy?: boolean };

/** Seal one tenant's rows up to `horizon` (rows must be settled: see checkpointTick). */
export async function sealTenant(d: CheckpointerDeps, tenantId: string, horizon: number): Promise<SealResult> {
  const key = auditSigningKey(d.keyring, tenantId);
  if (!key) throw new Error('audit checkpointer: the active keyring key is missing');
  const lockConn = await d.sql.reserve();
  try {
    // Another worker seals this tenant now (or a session holds the lock: reportStale).
    if (!(await tryTenantLock(lockConn, LOCK_PURPOSE, tenantId))) return { checkpoints: 0, rows: 0, busy: true };
    try {
      return await sealLocked(d, tenantId, horizon, key);
    } finally {
      await releaseTenantLock(lockConn, LOCK_PURPOSE, tenantId).catch(() => undefined);
    }
  } finally {
    lockConn.release();
  }
}

type SigningKey = NonNullable<ReturnType<typeof auditSigningKey>>;

/** sealTenant's work once the tenant's lock is held: verify the chain's end, then append checkpoints. */
async function sealLocked(d: CheckpointerDeps, tenantId: string, horizon: number, key: SigningKey): Promise<SealResult> {
  const trail = auditTrail(d.sql, tenantId);
  let checkpoints = 0;
  let rows = 0;
  // Read the last checkpoint under the lock: the chain continues from what is committed.
  let prev = await trail.lastCheckpoint();
  const problem = prev && checkpointProblem(d.keyring, prev);
  if (prev && problem) {
    d.log.error(
      { tenantId, checkpointSeq: prev.seq, problem },
      `audit checkpointer: refusing to chain onto checkpoint ${prev.seq} of tenant ${tenantId}: ${problem}; no new checkpoint is written for this tenant until it is investigated (pnpm cli audit verify)`,
    );
    d.integrityFailures?.inc({ job: 'checkpointer' });
    return { checkpoints, rows, refused: true };
  }
  for (;;) {
    const next = await nextCheckpoint(trail, tenantId, prev, horizon, d.maxRows, key);
    if (!next) break;
    if (!(await trail.insertCheckpoint(next))) break; // lost a race (lock lost with its connection)
    checkpoints++;
    rows += next.count;
    prev = { ...next, pruned: false };
    if (next.count < d.maxRows) break;
  }
  return { checkpoints, rows };
}

/** The signed checkpoint over the next at most `maxRows` rows after `prev` and up to `horizon`; undefined when there are none. */
async function nextCheckpoint(
  trail: AuditTrail,
  tenantId: string,
  prev: CheckpointRow | undefined,
  horizon: number,
  maxRows: number,
  key: SigningKey,
): Promise<Omit<CheckpointRow, 'pruned'> | undefined> {
  const ids: number[] = [];
  const leafList: Buffer[] = [];
  let minAt = '';
  let maxAt = '';
  for await (const row of trail.rowsBetween(prev?.lastId ?? 0, horizon, Math.min(maxRows, 1_000))) {
    ids.push(row.id);
    leafList.push(auditLeaf(row));
    if (!minAt || row.at < minAt) minAt = row.at;
    if (row.at > maxAt) maxAt = row.at;
    if (ids.length >= maxRows) break;
  }
  if (ids.length === 0) return undefined;
  const leaves = Buffer.concat(leafList);
  const payload: CheckpointPayload = {
    v: 1,
    tenantId,
    seq: (prev?.seq ?? 0) + 1,
    firstId: ids[0]!,
    lastId: ids[ids.length - 1]!,
    count: ids.length,
    minAt,
    maxAt,
    rowsHash: rowsHashOf(leaves),
    prevHash: prev?.hash ?? GENESIS_HASH,
    keyId: key.keyId,
  };
  return { ...signedCheckpoint(payload, key.privateKey), ids, leaves };
}
