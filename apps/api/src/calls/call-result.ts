import { isFinal, type ToolCall } from '@mcprt/db';
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
export function toCallToolResult(call: ToolCall, tool: AnyTool | undefined, pollUrl: string): CallToolResult {
  const meta = { [CALL_META]: { id: call.id, status: call.status, pollUrl } satisfies CallMeta };
  switch (call.status) {
    case 'succeeded':
      return {
        content: [{ type: 'text', text: readableText(call.result, tool) }],
        ...(tool?.output ? { structuredContent: call.result as Record<string, unknown> } : {}),
        _meta: meta,
      };
    case 'failed':
    case 'cancelled':
      return { content: [{ type: 'text', text: call.error?.message ?? `call ${call.status}` }], isError: true, _meta: meta };
    case 'queued':
    case 'running':
      // Not a failure, but marked isError so clients that validate structuredContent against the
      // tool's outputSchema accept it; the model reads the text, a program reads _meta.
      return {
        content: [{ type: 'text', text: `The call is still ${call.status}. Its id is ${call.id}; fetch the result later with GET ${pollUrl}.` }],
        isError: true,
        _meta: meta,
      };
  }
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
  };
}
