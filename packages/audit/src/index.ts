export {
  auditLeaf,
  auditPublicKeys,
  auditSigningKey,
  checkpointHash,
  checkpointPayloadOf,
  checkpointProblem,
  checkpointSignatureValid,
  GENESIS_HASH,
  publicKeyFromJwk,
  rowsHashOf,
  signCheckpoint,
  signedCheckpoint,
} from './audit-chain.js';
export type { AuditPublicJwk, AuditRowForm, CheckpointPayload, SealedCheckpoint } from './audit-chain.js';
export { AuditChainVerifier } from './audit-verify.js';
export type { CheckpointRecord, Finding, FindingKind, VerifyReport } from './audit-verify.js';
export { EXPORT_FORMAT, verifyAuditExport } from './audit-export.js';
export type { ExportVerifyReport } from './audit-export.js';
export {
  auditCheckpointLagSeconds,
  auditHorizon,
  auditTrail,
  horizonSettled,
  oldestUnsealed,
  releaseTenantLock,
  tenantsWithAuditBetween,
  tenantsWithUnsealedAudit,
  tryTenantLock,
} from './audit-trail.js';
export type { AuditFilter, AuditTrail, CheckpointRow } from './audit-trail.js';
export { checkpointTick, createCheckpointer, FULL_SCAN_EVERY, sealTenant, STALE_UNSEALED_MS } from './checkpointer.js';
export type { AuditJobLog, Checkpointer, CheckpointerDeps, IntegrityFailureCounter, TickResult } from './checkpointer.js';
export { retentionTick } from './retention-sweep.js';
export type { RetentionDeps } from './retention-sweep.js';
export { allTenantIds, deleteExpiredCalls, retentionOf, setRetention } from './retention.js';
export type { RetentionSettings } from './retention.js';
export { verifyTenantTrail } from './verify-trail.js';
