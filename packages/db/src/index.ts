export {
  applyOutcome,
  BELL_OUTCOME_MAX_BYTES,
  CALL_DONE_CHANNEL,
  callOutcomeSchema,
  callStatements,
  isFinal,
  STALE_RESULT_DISCARDED,
} from './call-statements.js';
export type { CallOutcomeBell, CallStatements, FinishInput, RecordCallInput, RecordCallResult } from './call-statements.js';
export { createDb } from './client.js';
export type { Database, DbHandle, Executor } from './client.js';
export { ensureDatabase, migrationsFolder, runMigrations } from './migrate.js';
export {
  APP_FUNCTIONS,
  APPEND_ONLY_TABLES,
  DATABASE_WRITTEN_TABLES,
  appRoleFromUrl,
  appRoleProblems,
  checkAppRole,
  scramSha256Verifier,
  setUpAppRole,
} from './roles.js';
export type { AppRole } from './roles.js';
export { defaultLimits } from './schema.js';
export type { TenantLimits, ToolCallError, UpstreamSettings } from './schema.js';
export { forTenant } from './tenant-scope.js';
export type { TenantScope } from './tenant-scope.js';
export { tenantsRepository } from './repositories/tenants.js';
export type { NewTenant, Tenant, TenantSecret } from './repositories/tenants.js';
export type { User } from './repositories/users.js';
export type { Credential, CredentialWrite } from './repositories/credentials.js';
export { findStaleQueuedCalls } from './repositories/tool-calls.js';
export { findStaleRunningCalls, requeueLostRunningCall } from './repositories/call-recovery.js';
export type { NewToolCall, ToolCall } from './repositories/tool-calls.js';
export type { AuditEvent, NewAuditEvent } from './repositories/audit.js';
export { oidcStoreRepository, sweepExpiredOidcRows } from './repositories/oidc-store.js';
export type { OidcStoreRepository, OidcStoreRow, TenantSigningKey } from './repositories/oidc-store.js';
export { isDatabaseUnavailable } from './unavailable.js';
export { auditHorizon, auditTrail, horizonSettled, oldestUnsealed, releaseTenantLock, tenantsWithUnsealedAudit, tryTenantLock } from './audit-trail.js';
export type { AuditFilter, AuditRowText, AuditTrail, CheckpointRow } from './audit-trail.js';
export { allTenantIds, deleteExpiredCalls, retentionOf, setRetention } from './retention.js';
export type { RetentionSettings } from './retention.js';
export { apiKeysRepository, recordApiKeyUse } from './repositories/api-keys.js';
export type { TenantApiKey } from './repositories/api-keys.js';
export { callHistory } from './call-history.js';
export type { CallFilter, CallPageRow } from './call-history.js';
