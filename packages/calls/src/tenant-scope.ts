import { tenantRepositories, type DbHandle, type Executor } from '@mcprt/db';
import { callStatements, type CallStatements } from './call-statements.js';
import { toolCallsRepository } from './tool-calls.js';

/** The tenant-bound repositories of @mcprt/db plus the call rows', each adding `tenant_id = $tenant`. */
export function forTenant(db: Executor, tenantId: string) {
  return { ...tenantRepositories(db, tenantId), toolCalls: toolCallsRepository(db, tenantId) };
}

export type TenantScope = ReturnType<typeof forTenant>;

/** A database handle with the call path's prepared single-statement operations. */
export type CallsDb = DbHandle & { calls: CallStatements };

export function withCallStatements(handle: DbHandle, opts?: Parameters<typeof callStatements>[1]): CallsDb {
  return { ...handle, calls: callStatements(handle.sql, opts) };
}
