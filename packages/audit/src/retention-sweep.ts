import type postgres from 'postgres';
import { auditTrail, releaseTenantLock, tryTenantLock } from './audit-trail.js';
import type { AuditJobLog, IntegrityFailureCounter } from './checkpointer.js';
import { allTenantIds, deleteExpiredCalls, retentionOf } from './retention.js';

/**
 * The retention job (docs/audit.md): per tenant, final calls past the tenant's
 * call-result retention go in batches of `batch` rows; audit rows go only through the database's
 * `audit_retention_sweep` (older than the audit retention AND sealed by a checkpoint, one checkpoint
 * per transaction, each recorded in audit_retention_log). Short statements, no table locks.
 */
export interface RetentionDeps {
  sql: postgres.Sql;
  batch: number;
  log: AuditJobLog;
  integrityFailures?: IntegrityFailureCounter;
}

export async function retentionTick(
  d: RetentionDeps,
  tenantIds?: string[],
): Promise<{ calls: number; auditRows: number; checkpoints: number; refused?: number }> {
  let calls = 0;
  let auditRows = 0;
  let checkpoints = 0;
  let refused = 0;
  const lockConn = await d.sql.reserve();
  try {
    for (const tenantId of tenantIds ?? (await allTenantIds(d.sql))) {
      // One retention run per tenant at a time across workers (a session advisory lock).
      if (!(await tryTenantLock(lockConn, 'retention', tenantId))) continue;
      try {
        const r = await retentionOf(d.sql, tenantId);
        for (let n = d.batch; n === d.batch; ) {
          n = await deleteExpiredCalls(d.sql, tenantId, r.callResultDays, d.batch);
          calls += n;
        }
        const trail = auditTrail(d.sql, tenantId);
        for (let swept = await trail.sweepOneCheckpoint(); swept; swept = await trail.sweepOneCheckpoint()) {
          if (swept.refused) {
            // The sweep found a checkpoint that does not hold up (written before the database sealed
            // checkpoints itself, or tampered with as the owner): nothing was deleted, and this
            // tenant's retention stops there until someone looks.
            refused++;
            d.log.error(
              { tenantId, checkpointSeq: swept.checkpointSeq, problem: swept.refused },
              `audit retention: checkpoint ${swept.checkpointSeq} of tenant ${tenantId} does not hold up (${swept.refused}); its rows were kept and the tenant's audit retention stops there (pnpm cli audit verify)`,
            );
            d.integrityFailures?.inc({ job: 'retention' });
            break;
          }
          checkpoints++;
          auditRows += swept.rowsDeleted;
        }
      } finally {
        await releaseTenantLock(lockConn, 'retention', tenantId);
      }
    }
  } finally {
    lockConn.release();
  }
  return { calls, auditRows, checkpoints, ...(refused ? { refused } : {}) };
}
