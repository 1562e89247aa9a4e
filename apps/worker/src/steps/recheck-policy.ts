import { connectLinkOf } from '@mcprt/calls';
import type { Tenant, User } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import { decideToolCall, principalKind } from '@mcprt/policy';
import type { AnyTool } from '@mcprt/tools';
import type { WorkerResources } from '../resources.js';
import type { BoundCall } from './bind-call.js';

/** Who runs what, as allowed now. */
export interface Allowed {
  tenant: Tenant;
  user: User;
  tool: AnyTool;
}

/**
 * The policy again, at dequeue, with what is true now: the tool known and enabled for the tenant, the
 * stored credential active and covering the tool. The MCP token's scopes do not travel (undefined:
 * decided by the API). A denial is the call's failure, never retried.
 */
export async function recheckPolicy(r: WorkerResources, { call, tool, stored }: BoundCall): Promise<Allowed> {
  const [tenant, user] = await Promise.all([r.owners.tenant(call.tenantId), r.owners.user(call.tenantId, call.userId)]);
  if (!tenant || !user) throw new AppError('not_found', 'owner_missing', 'the tenant or user of this call no longer exists');
  const decision = decideToolCall({ tenant, tool, tokenScopes: undefined, credential: stored, principal: principalKind(user) });
  if (!decision.allow) {
    // A missing or too narrow upstream credential: the error carries the connect link made for this user.
    const connect = decision.connect && connectLinkOf(r, tenant, call.userId, decision.connect);
    throw new AppError('policy', decision.code, connect ? `${decision.message} Connect at ${connect.url}` : decision.message, {
      expose: true,
      retryable: false,
      ...(connect ? { details: { connect } } : {}),
    });
  }
  if (!tool) throw new AppError('policy', 'unknown_tool', 'Unknown tool'); // (decided above; narrows the type)
  return { tenant, user, tool };
}
