export { groupCommit } from './group-commit.js';
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
export type { EnterpriseIdp, TenantLimits, UpstreamSettings } from './schema.js';
export { auditEvents, auditCheckpoints, tenants, users } from './schema.js';
export { tenantRepositories } from './tenant-scope.js';
export type { TenantRepositories } from './tenant-scope.js';
export { tenantsRepository } from './repositories/tenants.js';
export type { NewTenant, Tenant, TenantSecret } from './repositories/tenants.js';
export type { User } from './repositories/users.js';
export type { Credential, CredentialWrite } from './repositories/credentials.js';
export { oidcStoreRepository, sweepExpiredOidcRows } from './repositories/oidc-store.js';
export type { OidcStoreRepository, OidcStoreRow, TenantSigningKey } from './repositories/oidc-store.js';
export { isDatabaseUnavailable } from './unavailable.js';
export { apiKeysRepository, recordApiKeyUse } from './repositories/api-keys.js';
export type { TenantApiKey } from './repositories/api-keys.js';

export type { AuditEvent, NewAuditEvent } from './repositories/audit.js';
