import type { Executor } from './client.js';
import { auditRepository } from './repositories/audit.js';
import { credentialsRepository } from './repositories/credentials.js';
import { toolCallsRepository } from './repositories/tool-calls.js';
import { usersRepository } from './repositories/users.js';

/**
 * The one place a tenant id is bound to queries (STYLE.md §5): every repository built here adds
 * `tenant_id = $tenant` to each statement, so a call site cannot forget it.
 */
export function forTenant(db: Executor, tenantId: string) {
  return {
    tenantId,
    users: usersRepository(db, tenantId),
    credentials: credentialsRepository(db, tenantId),
    toolCalls: toolCallsRepository(db, tenantId),
    audit: auditRepository(db, tenantId),
  };
}

export type TenantScope = ReturnType<typeof forTenant>;
