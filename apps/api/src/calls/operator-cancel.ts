import { cancelCall, type CancelDeps, type ToolCall } from '@mcprt/calls';
import { appError } from '@mcprt/errors';

/**
 * A tenant operator's cancel (the REST admin route with an API key holding `calls:cancel`, and the
 * admin console's button): any call of the tenant, audited as `cancelled_by:api_key:<key id>`.
 * One function so both surfaces answer the same: `call_not_found` for an id that is malformed or not
 * this tenant's, otherwise the call and whether it was cancelled now or had already ended.
 */
export async function cancelAsOperator(
  deps: CancelDeps,
  input: { tenantId: string; callId: string; keyId: string; requestId: string | null },
): Promise<{ cancelled: boolean; call: ToolCall }> {
  const out = await cancelCall(deps, {
    tenantId: input.tenantId,
    callId: input.callId,
    actor: { kind: 'api_key', id: input.keyId },
    requestId: input.requestId,
  });
  if (out.outcome === 'cancelled' || out.outcome === 'final') return { cancelled: out.outcome === 'cancelled', call: out.call };
  throw appError('call_not_found');
}
