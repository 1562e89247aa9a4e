import type { Executor } from './client.js';
import { auditRepository } from './repositories/audit.js';
import { credentialsRepository } from './repositories/credentials.js';
import { usersRepository } from './repositories/users.js';

/**
 * The one place a tenant id is bound to the plain repositories: every repository built here adds
 * `tenant_id = $tenant` to each statement, so a call site cannot forget it. The tool-call engine adds
 * its own tenant-bound repository on top (`forTenant` in @mcprt/calls).
 */
export function tenantRepositories(db: Executor, tenantId: string) {
  return {
    tenantId,
    users: usersRepository(db, tenantId),
    credentials: credentialsRepository(db, tenantId),
    audit: auditRepository(db, tenantId),
  };
}

export type TenantRepositories = ReturnType<typeof tenantRepositories>;
