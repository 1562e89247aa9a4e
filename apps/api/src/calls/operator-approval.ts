import { decideCallApproval, type ApprovalDeps, type ToolCall } from '@mcprt/calls';
import { appError } from '@mcprt/errors';

/**
 * A tenant approver's decision (the REST route with an API key holding `calls:approve`, and the admin
 * console's Approvals page): a call a `tenant` rule holds, for the arguments whose hash was shown,
 * audited with `api_key:<key id>`. One function so both surfaces answer the same: `call_not_found`
 * (malformed id, another tenant's call, a user's own approval, decided already), `approval_expired`,
 * `approval_changed`; otherwise the decided call.
 */
export async function decideAsTenantApprover(
  deps: ApprovalDeps,
  input: { tenantId: string; callId: string; approve: boolean; argsHash: string; keyId: string; requestId: string | null },
): Promise<{ outcome: 'approved' | 'denied'; call: ToolCall }> {
  const out = await decideCallApproval(deps, {
    tenantId: input.tenantId,
    callId: input.callId,
    approve: input.approve,
    argsHash: input.argsHash,
    actor: { kind: 'api_key', id: input.keyId },
    requestId: input.requestId,
  });
  if (out.outcome === 'not_found') throw appError('call_not_found');
  if (out.outcome === 'expired') throw appError('approval_expired');
  if (out.outcome === 'changed') throw appError('approval_changed');
  return { outcome: out.outcome, call: out.call };
}
