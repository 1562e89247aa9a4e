import { callListFilter, decideCallAccess, type CallAccessDecision, type CallListFilter, type CallReader } from '@mcprt/policy';
import type { ToolRegistry } from '@mcprt/tools';
import { isCallId } from './call-id.js';
import type { ToolCall } from './schema.js';
import type { TenantScope } from './tenant-scope.js';

/**
 * The access rule for seeing and cancelling a call: the policy's call rule (`decideCallAccess`,
 * packages/policy) with what the engine knows, the call's tool scope from this deployment's
 * registry. Every surface that shows or changes one of a user's calls asks here, with the verified
 * token of the request: REST get and cancel, `tool_call_result`, `tasks/get|update|cancel`,
 * `notifications/cancelled`, the close of a request stream, the wait for an idempotent replay. A
 * `not_found` decision is answered exactly like an id that never existed.
 */
export function callAccess(registry: Pick<ToolRegistry, 'get'>, token: CallReader, call: ToolCall, action: 'read' | 'cancel'): CallAccessDecision {
  return decideCallAccess({ token, action, call: { tool: call.tool, clientId: call.clientId }, toolScope: registry.get(call.tool)?.mcpScope });
}

/** The same rule for the list statement (`callHistory.page`), over every tool this deployment has. */
export function visibleCalls(registry: Pick<ToolRegistry, 'get' | 'names'>, token: CallReader): CallListFilter {
  return callListFilter(
    token,
    registry.names().flatMap((name) => {
      const t = registry.get(name);
      return t ? [{ name: t.name, mcpScope: t.mcpScope }] : [];
    }),
  );
}

/** Whether a user call may be read, as a boolean (a read refused is always `not_found`). */
export const mayRead = (registry: Pick<ToolRegistry, 'get'>, token: CallReader, call: ToolCall): boolean => callAccess(registry, token, call, 'read').allow;

/**
 * One of the user's calls by id, as the call rule lets `token` see it: the one look-up the read
 * surfaces share (REST get, `tool_call_result`, `tasks/*`). A malformed id, a missing call, another
 * user's call and one the rule refuses all give undefined, to be answered alike.
 */
export async function readableCall(
  registry: Pick<ToolRegistry, 'get'>,
  calls: Pick<TenantScope['toolCalls'], 'byIdForUser'>,
  userId: string,
  token: CallReader,
  id: string,
): Promise<ToolCall | undefined> {
  if (!isCallId(id)) return undefined;
  const call = await calls.byIdForUser(id, userId);
  return call && mayRead(registry, token, call) ? call : undefined;
}
