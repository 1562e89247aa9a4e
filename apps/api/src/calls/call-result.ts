import { isFinal, OPEN_STATUSES, type ToolCall } from '@mcprt/calls';
import type { AnyTool } from '@mcprt/tools';
import type { CallToolResult } from '@modelcontextprotocol/server';

/** Namespaced `_meta` key (MCP: reverse-DNS prefixes for implementation-defined metadata). */
export const CALL_META = 'io.mcprt/call';

export interface CallMeta {
  id: string;
  status: ToolCall['status'];
  pollUrl: string;
}

/** A call row as an MCP `CallToolResult`. Results are read from Postgres, never from queue events. */
export function toCallToolResult(call: ToolCall, tool: AnyTool | undefined, pollUrl: string, approvalUrl?: string): CallToolResult {
  const meta = { [CALL_META]: { id: call.id, status: call.status, pollUrl } satisfies CallMeta };
  switch (call.status) {
    case 'succeeded':
      return {
        content: contentOf(call.result, tool),
        ...(tool?.output ? { structuredContent: call.result as Record<string, unknown> } : {}),
        _meta: meta,
      };
    case 'failed':
    case 'cancelled':
      return { content: [{ type: 'text', text: call.error?.message ?? `call ${call.status}` }], isError: true, _meta: meta };
    case 'queued':
    case 'running':
    case 'awaiting_approval':
    case 'awaiting_input':
      return stillRunning(call, tool, pollUrl, meta, approvalUrl);
  }
}

/** The built-in tool a model calls with a call id to get a call's result (mcp/tool-call-result.ts). */
export const RESULT_TOOL = 'tool_call_result';

/**
 * The `structuredContent` of a "still running" answer. A tool's advertised `outputSchema` is
 * `anyOf: [its own output, this]` (mcp/output-schema.ts), so the answer is a plain, non-error result
 * that still conforms to the schema the client validates against (MCP: a tool with an output schema
 * MUST return conforming structured content; an `isError` answer would show as a failed tool).
 */
export const PENDING_OUTPUT_SCHEMA = {
  type: 'object',
  description: 'The call is still running: get its result later (REST resultUrl, or the tool_call_result tool with callId).',
  properties: {
    callStatus: { type: 'string', enum: OPEN_STATUSES },
    callId: { type: 'string' },
    resultUrl: { type: 'string' },
    resultTool: { type: 'string', const: RESULT_TOOL },
    approvalUrl: { type: 'string', description: 'Set while the call waits for approval by its user: where they approve or deny it.' },
  },
  required: ['callStatus', 'callId', 'resultUrl', 'resultTool'],
  additionalProperties: false,
} as const;

/**
 * A call that outlives the wait is not a failure. The answer says so plainly, with the call
 * id, the REST URL and the built-in `tool_call_result` tool a model can call with the id.
 */
function stillRunning(call: ToolCall, tool: AnyTool | undefined, pollUrl: string, meta: Record<string, CallMeta>, approvalUrl?: string): CallToolResult {
  const approval = call.status === 'awaiting_approval' ? waitingForApproval(call, approvalUrl) : undefined;
  const text =
    (approval?.text ?? `The call is still ${call.status} (this is not an error). `) +
    `Its call id is ${call.id}. ` +
    `To get its result, call the tool ${RESULT_TOOL} with {"callId": "${call.id}"}, or GET ${pollUrl} with the same access token.`;
  const structured = {
    callStatus: call.status,
    callId: call.id,
    resultUrl: pollUrl,
    resultTool: RESULT_TOOL,
    ...(approval?.url ? { approvalUrl: approval.url } : {}),
  };
  return {
    content: [{ type: 'text', text }],
    ...(tool?.output ? { structuredContent: structured } : {}),
    _meta: approval?.url
      ? { ...meta, [APPROVAL_META]: { url: approval.url, approver: call.approver, expiresAt: call.approvalExpiresAt?.toISOString() } }
      : meta,
  };
}

/** The tool's own content blocks (tool.content), else one readable text block. */
function contentOf(result: unknown, tool: AnyTool | undefined): CallToolResult['content'] {
  if (tool?.content) {
    try {
      return tool.content(result as Record<string, unknown>);
    } catch {
      // a result stored by an older version of the tool: the JSON below
    }
  }
  return [{ type: 'text', text: readableText(result, tool) }];
}

/** Where a call waiting for its user's approval says where to give it. */
export const APPROVAL_META = 'io.mcprt/approval';

/** The words of a call waiting for approval: whose, where (the user's own), and that it will not run before. */
function waitingForApproval(call: ToolCall, approvalUrl: string | undefined): { text: string; url?: string } {
  const until = call.approvalExpiresAt ? ` If nobody approves it by ${call.approvalExpiresAt.toISOString()}, it fails without running.` : '';
  if (call.approver === 'user' && approvalUrl)
    return {
      text: `This call needs your approval before it runs: open ${approvalUrl} to see exactly what will run, then approve or deny it.${until} `,
      url: approvalUrl,
    };
  return { text: `This call is waiting for approval by an approver of your organisation; it will not run before.${until} ` };
}

/** The tool's readable rendering of its result (tool.text), else the JSON; a result the renderer cannot read falls back to JSON. */
function readableText(result: unknown, tool: AnyTool | undefined): string {
  if (tool?.text) {
    try {
      return tool.text(result as Record<string, unknown>);
    } catch {
      // e.g. a result stored by an older version of the tool
    }
  }
  return JSON.stringify(result);
}

/** The REST view of a call (GET /t/:tenant/v1/tool-calls/:id). */
export function toCallView(call: ToolCall, tool: AnyTool | undefined, pollUrl: string) {
  return {
    id: call.id,
    tool: call.tool,
    /** As stored: arguments the tool marks sensitive show "[redacted]" (their real values never leave the worker). */
    arguments: call.arguments,
    status: call.status,
    attempt: call.attempt,
    createdAt: call.createdAt,
    startedAt: call.startedAt,
    finishedAt: call.finishedAt,
    result: isFinal(call) ? toCallToolResult(call, tool, pollUrl) : null,
    error: call.error ?? null,
    // A call the tenant's rules held for approval: who may give it, until when, and (while it waits)
    // the hash an approver sends back, so the decision binds to the arguments shown here.
    ...(call.approver
      ? {
          approval: {
            approver: call.approver,
            expiresAt: call.approvalExpiresAt,
            ...(call.status === 'awaiting_approval' ? { argsHash: call.argsHash } : {}),
          },
        }
      : {}),
  };
}
