import type { KeyObject } from 'node:crypto';
import type postgres from 'postgres';
import { auditTrail } from './audit-trail.js';
import { AuditChainVerifier, type VerifyReport } from './audit-verify.js';

/**
 * Verify a tenant's trail from the database (`pnpm cli audit verify` and the admin console's audit
 * page): checkpoints in seq order, each followed by the rows of its id range, then the rows after the
 * last checkpoint. Rows are checked from the first checkpoint reaching `since` (all when absent);
 * the chain of checkpoints always from 1. The public keys come from the keyring, not from the
 * database being checked.
 */
export async function verifyTenantTrail(sql: postgres.Sql, tenantId: string, keys: Map<string, KeyObject>, since?: Date): Promise<VerifyReport> {
  const trail = auditTrail(sql, tenantId);
  const fromSeq = since ? ((await trail.firstCheckpointReaching(since)) ?? Number.MAX_SAFE_INTEGER) : 1;
  const verifier = new AuditChainVerifier({ tenantId, keys });
  let afterId = 0;
  for await (const cp of trail.checkpoints()) {
    const rowsToo = cp.seq >= fromSeq;
    verifier.checkpoint({ ...cp, skipRows: !rowsToo });
    // Rows between the previous checkpoint and this one's last id: a row there that the checkpoint
    // did not seal (inserted afterwards) is reported too. Read for a pruned checkpoint as well: no
    // log row hides a row that exists (`pruned` already means none is there).
    if (rowsToo) for await (const row of trail.rowsBetween(afterId, cp.lastId)) verifier.row(row);
    afterId = cp.lastId;
  }
  for await (const row of trail.rowsBetween(afterId, null)) verifier.row(row);
  return verifier.end();
}
