import type { CallToolResult, Tool } from '@modelcontextprotocol/server';
import { awaitCall, eitherAborted, isFinal, readableCall } from '@mcprt/calls';
import { z } from 'zod';
import { RESULT_TOOL, toCallToolResult } from '../calls/call-result.js';
import { approvalPageUrl, toolCallUrl } from '../http/urls.js';
import type { Config } from '@mcprt/config';
import type { ToolRegistry } from '@mcprt/tools';
import type { RequestIdentity } from './request-identity.js';

/**
 * The built-in `tool_call_result` tool: a model that got a "still running" answer calls it
 * with the call id and gets the call's real result (or, if it is still running after another wait,
 * the same "still running" answer). Served by the API from `tool_calls`; nothing is queued. Only the
 * caller's own calls, as the policy's call rule lets the request's token see them (the app that made
 * the call, with its tool scope, or `calls:read`): an unknown id, another user's id and a refused
 * one get the same answer.
 */
const input = z.object({ callId: z.string().max(64) }).strict();

export const toolCallResultListing: Tool = {
  name: RESULT_TOOL,
  title: 'Result of an earlier tool call',
  description:
    'Returns the result of one of your earlier tool calls that was still running when it answered. ' +
    'Pass the callId that answer gave. If the call is still running, waits a while and says so again.',
  inputSchema: z.toJSONSchema(input, { target: 'draft-2020-12' }) as Tool['inputSchema'],
  annotations: { readOnlyHint: true, openWorldHint: false },
};

export type ResultToolDeps = Parameters<typeof awaitCall>[0] & {
  config: Pick<Config, 'PUBLIC_URL' | 'CALL_WAIT_MS'>;
  registry: ToolRegistry;
  drain?: AbortSignal;
};

export async function callToolCallResult(r: ResultToolDeps, who: RequestIdentity, args: unknown, signal: AbortSignal): Promise<CallToolResult> {
  const parsed = input.safeParse(args ?? {});
  if (!parsed.success) return { content: [{ type: 'text', text: `Invalid arguments for ${RESULT_TOOL}: callId must be a call id string` }], isError: true };
  const id = parsed.data.callId;
  let call = await readableCall(r.registry, who.scope.toolCalls, who.user.id, who.token, id);
  if (!call) return { content: [{ type: 'text', text: `No tool call with id ${id} was found for you.` }], isError: true };
  if (!isFinal(call)) call = await awaitCall(r, who, call, { timeoutMs: r.config.CALL_WAIT_MS, signal: eitherAborted(signal, r.drain), fresh: false });
  const approvalUrl =
    call.status === 'awaiting_approval' && call.approver === 'user' ? approvalPageUrl(r.config.PUBLIC_URL, who.tenant.slug, call.id) : undefined;
  return toCallToolResult(call, r.registry.get(call.tool), toolCallUrl(r.config.PUBLIC_URL, who.tenant.slug, call.id), approvalUrl);
}
