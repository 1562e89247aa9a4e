import type { Keyring } from '@mcprt/keyring';
import type postgres from 'postgres';
import { auditLeaf, auditSigningKey, checkpointProblem, GENESIS_HASH, rowsHashOf, signedCheckpoint, type CheckpointPayload } from './audit-chain.js';
import {
  auditHorizon,
  auditTrail,
  horizonSettled,
  oldestUnsealed,
  releaseTenantLock,
  tenantsWithAuditBetween,
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
 * that moment has ended (so no id ≤ horizon can still commit), then per tenant with unsealed rows
 * (found among the rows appended since the instance's previous tick: createCheckpointer), under a
 * session advisory lock (one checkpointer per tenant across all workers), seal up to the horizon in
 * checkpoints of at most `maxRows` rows.
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
  /** How the tick found its tenants: the whole-table query, only the rows since the previous tick, or not at all (not settled). */
  scan: 'full' | 'incremental' | 'none';
  /** Tenants it tried to seal. */
  candidates: number;
  checkpoints: number;
  rows: number;
  /** Tenants skipped because their last checkpoint does not verify. */
  refused: number;
}

const LOCK_PURPOSE = 'audit-checkpoint';

/**
 * Every this many ticks an instance looks at the whole table again (`tenantsWithUnsealedAudit`)
 * instead of only at the rows since its previous tick: once an hour at the default 60 s interval.
 * The incremental ticks miss nothing the settle step guarantees; this catches what it cannot (see
 * createCheckpointer) at the cost of one whole-table statement per hour instead of one per tick (with
 * audit_tenant_id, migration 0019, that statement is one index probe per tenant: docs/audit.md).
 */
export const FULL_SCAN_EVERY = 60;

export interface Checkpointer {
  /** One tick (see checkpointTick); ticks of one instance run one after another. */
  tick(): Promise<TickResult>;
}

/** One tick of a fresh checkpointer: it looks at the whole table (`tenantsWithUnsealedAudit`). */
export async function checkpointTick(d: CheckpointerDeps): Promise<TickResult> {
  return createCheckpointer(d).tick();
}

/**
 * A checkpointer that remembers, between its ticks, the horizon of its previous settled tick and the
 * tenants it could not finish then (lock held by another session, sealing failed, last checkpoint
 * refused), so that a tick costs the rows appended since the previous one, not the table.
 *
 * Its first tick, and every `fullScanEvery`-th, asks which tenants have rows after their last
 * checkpoint over the whole table. The others take the tenants of the rows with
 * previous horizon < id ≤ horizon (a range of the primary key) plus the carried-over ones. That misses
 * nothing: a tick seals only once its horizon is settled (no id ≤ horizon can still commit), so every
 * row ≤ the previous horizon was visible to the previous tick, and each tenant with such a row still
 * unsealed was either sealed up to that horizon by it or carried over; rows never become unsealed
 * again (the triggers refuse to delete or update a checkpoint). Another instance (each worker process runs one)
 * may seal a tenant in between: this one then finds it with nothing to do, or only the rest up to its
 * own horizon (it reads the tenant's last checkpoint under the lock: an empty range, no checkpoint). What the settle step cannot rule out — a row that
 * drew its id before the horizon but got its transaction id after the snapshot, or one inserted with an
 * explicit, older id the sequence once handed out — is sealed with its tenant's next row (sealing
 * reads from the last checkpoint, not from the previous horizon) or at the latest by the periodic full
 * tick (where every tick found it before); `audit verify` reports it either way.
 */
export function createCheckpointer(d: CheckpointerDeps, opts: { fullScanEvery?: number } = {}): Checkpointer {
  const fullScanEvery = Math.max(1, opts.fullScanEvery ?? FULL_SCAN_EVERY);
  let previous: { horizon: number; carried: string[] } | undefined;
  let sinceFull = 0;
  let last: Promise<unknown> = Promise.resolve();
  const once = async (): Promise<TickResult> => {
    const { maxId, settled } = await settledHorizon(d);
    if (!settled) return { horizon: maxId, settled, scan: 'none', candidates: 0, checkpoints: 0, rows: 0, refused: 0 };
    const full = !previous || sinceFull + 1 >= fullScanEvery;
    const candidates = full
      ? await tenantsWithUnsealedAudit(d.sql, maxId)
      : [...new Set([...previous!.carried, ...(await tenantsWithAuditBetween(d.sql, previous!.horizon, maxId))])];
    const r = await sealTenants(d, candidates, maxId);
    // Retention may have removed the newest rows: the horizon read then is lower, but no id up to the
    // previous one can appear any more, so the range stays where it was.
    previous = { horizon: Math.max(maxId, previous?.horizon ?? 0), carried: r.unfinished };
    sinceFull = full ? 0 : sinceFull + 1;
    if (r.stale.length) await reportStale(d, r.stale, maxId);
    const { checkpoints, rows, refused } = r;
    return { horizon: maxId, settled, scan: full ? 'full' : 'incremental', candidates: candidates.length, checkpoints, rows, refused };
  };
  return {
    tick() {
      const run = last.then(once);
      last = run.catch(() => undefined);
      return run;
    },
  };
}

/** The horizon, once every transaction open when it was read has ended (at most `settleMs`). */
async function settledHorizon(d: CheckpointerDeps): Promise<{ maxId: number; settled: boolean }> {
  const { maxId, snapshot } = await auditHorizon(d.sql);
  const deadline = Date.now() + d.settleMs;
  let settled = await horizonSettled(d.sql, snapshot);
  while (!settled && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    settled = await horizonSettled(d.sql, snapshot);
  }
  // A transaction open for longer than settleMs: sealing now could skip a row it may still commit.
  if (!settled) d.log.warn({ horizon: maxId }, 'audit checkpoint skipped: a transaction older than the settle time is still open');
  return { maxId, settled };
}

/** Seal each tenant up to `horizon`; `unfinished`: the ones to try again next tick, `stale`: the ones to check the age of. */
async function sealTenants(d: CheckpointerDeps, tenantIds: string[], horizon: number) {
  const out = { checkpoints: 0, rows: 0, refused: 0, unfinished: [] as string[], stale: [] as string[] };
  for (const tenantId of tenantIds) {
    let r;
    try {
      r = await sealTenant(d, tenantId, horizon);
    } catch (err) {
      // One tenant's failure (its checkpoint lock held by another session past the database's lock
      // timeout, a row the database refuses to seal) never stops the other tenants' checkpoints.
      d.log.error(
        { tenantId, err },
        `audit checkpointer: sealing tenant ${tenantId} failed (${err instanceof Error ? err.message : String(err)}); its newer rows stay unsealed, the other tenants go on`,
      );
      d.integrityFailures?.inc({ job: 'checkpointer' });
      out.unfinished.push(tenantId);
      out.stale.push(tenantId);
      continue;
    }
    out.checkpoints += r.checkpoints;
    out.rows += r.rows;
    if (r.refused) out.refused++;
    if (r.refused || r.busy) out.unfinished.push(tenantId);
    if (r.busy) out.stale.push(tenantId);
  }
  return out;
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
    // Lost a race (the lock lost with its connection): the other writer may stop short of this horizon, so try again next tick.
    if (!(await trail.insertCheckpoint(next))) return { checkpoints, rows, busy: true };
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
