import { Server, ProtocolError, ProtocolErrorCode, type CallToolResult, type ProtocolEra, type ServerCapabilities } from '@modelcontextprotocol/server';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { applyOutcome, callOutcomeSchema, isFinal, type ToolCall } from '@mcprt/db';
import { toAppError } from '@mcprt/errors';
import { eitherAborted } from '@mcprt/queue';
import { jsonSchemaOf, type AnyTool } from '@mcprt/tools';
import { submitCall } from '../calls/submit-call.js';
import { toCallToolResult } from '../calls/call-result.js';
import type { ApiResources } from '../resources.js';
import type { ApiState } from '../http/state.js';
import { toolCallUrl } from '../http/urls.js';
import { isDatabaseUnavailable, UNAVAILABLE_RPC_CODE } from '../http/outage.js';

export type RequestIdentity = Required<Pick<ApiState, 'tenant' | 'scope' | 'token' | 'user' | 'requestId' | 'log'>> & {
  /** Told when a handler answered "temporarily unavailable", so the route can make it an HTTP 503 with Retry-After. */
  onUnavailable?: () => void;
};

/** Key under `params._meta` a client may set to make a tools/call idempotent (same key → same call). */
export const IDEMPOTENCY_META = 'io.mcprt/idempotency-key';

/** One validator per process: the SDK would otherwise build one for every request. */
const validator = new AjvJsonSchemaValidator();

/**
 * What the server offers. Tools, in both eras. 2025 clients may also send `logging/setLevel` (the
 * SDK answers it); the server emits no log notifications, and a stateless server has no session for
 * the level to outlive the request. 2026-07-28 removed `logging/setLevel` (the level rides each
 * request's `_meta`), so the modern era does not advertise the deprecated capability.
 */
const MODERN_CAPABILITIES: ServerCapabilities = { tools: { listChanged: false } };
const LEGACY_CAPABILITIES: ServerCapabilities = { ...MODERN_CAPABILITIES, logging: {} };

/** The waited-for call in the final state its bell carried; undefined (read the row) if the detail is not valid. */
function outcomeFromBell(call: ToolCall, detail: string): ToolCall | undefined {
  let json: unknown;
  try {
    json = JSON.parse(detail);
  } catch {
    return undefined;
  }
  const o = callOutcomeSchema.safeParse(json);
  return o.success ? applyOutcome(call, o.data) : undefined;
}

/**
 * A fresh MCP server for one HTTP request (stateless, DESIGN §5): it knows the tenant and the verified
 * user of this request only. The same server answers both protocol eras: the serving entry
 * (`serve-request.ts`) binds it to the era the request speaks, and the SDK shapes envelopes, errors
 * and `server/discover` accordingly. The low-level `Server`: this module registers its own
 * tools/list and tools/call handlers, so the high-level McpServer's registries would be dead weight.
 */
export function buildMcpServer(r: ApiResources, who: RequestIdentity, era: ProtocolEra, signal: AbortSignal): Server {
  const mcp = new Server(
    { name: 'mcprt', version: '0.1.0' },
    { capabilities: era === 'legacy' ? LEGACY_CAPABILITIES : MODERN_CAPABILITIES, jsonSchemaValidator: validator },
  );
  const enabled = () => r.registry.enabledFor(who.tenant.enabledTools);

  mcp.setRequestHandler(
    'tools/list',
    guard(r, who, async () => ({
      tools: enabled().map((t: AnyTool) => ({
        name: t.name,
        title: t.title,
        description: t.description,
        inputSchema: jsonSchemaOf(t.input, 'input') as { type: 'object' },
        ...(t.output ? { outputSchema: jsonSchemaOf(t.output, 'output') as { type: 'object' } } : {}),
        annotations: { readOnlyHint: true, openWorldHint: t.name !== 'echo' },
      })),
    })),
  );

  mcp.setRequestHandler(
    'tools/call',
    guard(r, who, async (req): Promise<CallToolResult> => {
      // MCP: an unknown tool is a protocol error, not a tool execution error.
      const unknown = () => new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
      const tool = r.registry.get(req.params.name);
      if (!tool) throw unknown();
      const key = req.params._meta?.[IDEMPOTENCY_META];
      if (key !== undefined && !isIdempotencyKey(key))
        return { content: [{ type: 'text', text: `${IDEMPOTENCY_META} must be 1 to 128 visible ASCII characters` }], isError: true };
      const outcome = await submitCall(r, {
        tenant: who.tenant,
        scope: who.scope,
        user: who.user,
        clientId: who.token.clientId,
        tool,
        tokenScopes: who.token.scopes,
        args: req.params.arguments,
        requestId: who.requestId,
        get log() {
          return who.log;
        },
        idempotencyKey: key,
      });
      if (outcome.kind === 'unknown') throw unknown();
      if (outcome.kind === 'invalid') return { content: [{ type: 'text', text: outcome.message }], isError: true };
      if (outcome.kind === 'refused')
        return {
          content: [{ type: 'text', text: outcome.message }],
          isError: true,
          _meta: {
            'io.mcprt/error':
              outcome.retryAfterMs === undefined ? { code: outcome.code } : { code: outcome.code, retryable: true, retryAfterMs: outcome.retryAfterMs },
          },
        };

      const pollUrl = toolCallUrl(r.config.PUBLIC_URL, who.tenant.slug, outcome.call.id);
      let call = outcome.call;
      if (outcome.enqueued && !isFinal(call)) {
        // The call is recorded: from here on the client always gets its id. A wait that fails (Postgres
        // gone after the commit) or is cut short (the API drains) answers with the id and the state
        // last known, never with an error a client would retry into a second run.
        try {
          const done = await r.waiter.wait(
            call.id,
            async () => {
              const row = await r.db.calls.byId(who.tenant.id, call.id);
              return row && isFinal(row) ? row : undefined;
            },
            // The job was enqueued a moment ago: wait for the doorbell (or the first poll) before reading.
            // The bell usually carries the committed final state: then no read is needed.
            {
              timeoutMs: r.config.CALL_WAIT_MS,
              signal: eitherAborted(signal, r.drain),
              checkFirst: false,
              fromBell: (detail) => outcomeFromBell(call, detail),
            },
          );
          call = done ?? (r.drain?.aborted ? call : ((await r.db.calls.byId(who.tenant.id, call.id)) ?? call));
        } catch (e) {
          if (isDatabaseUnavailable(e)) r.outages.report('postgres', e);
          else who.log.warn({ err: e, callId: call.id }, 'waiting for a recorded call failed; answering with its id');
        }
      }
      return toCallToolResult(call, tool, pollUrl);
    }),
  );

  return mcp;
}

const isIdempotencyKey = (key: unknown): key is string => typeof key === 'string' && /^[\x21-\x7e]{1,128}$/.test(key);

/**
 * Every MCP handler runs inside this: protocol errors pass as they are; anything else (a database
 * error, a bug) is logged once with the request id and answered as `-32603 internal error` with the
 * request id and the error's public code, never with its message (DESIGN §5, STYLE.md §4).
 */
function guard<A extends unknown[], R>(r: ApiResources, who: RequestIdentity, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await handler(...args);
    } catch (e) {
      if (e instanceof ProtocolError) throw e;
      // Postgres unreachable before anything was recorded: a specific, retryable error (no driver
      // text), logged once per outage; the route turns it into HTTP 503 + Retry-After.
      if (isDatabaseUnavailable(e)) {
        r.outages.report('postgres', e);
        who.onUnavailable?.();
        const after = r.config.RETRY_AFTER_S;
        throw new ProtocolError(UNAVAILABLE_RPC_CODE, `Service temporarily unavailable; retry in ${after} s (request id ${who.requestId})`, {
          code: 'database_unavailable',
          requestId: who.requestId,
          retryable: true,
          retryAfterSeconds: after,
        });
      }
      const err = toAppError(e);
      if (err.expose) who.log.warn({ code: err.code }, 'mcp request failed');
      else who.log.error({ err: e }, 'mcp request failed');
      const pub = err.toPublic();
      throw new ProtocolError(ProtocolErrorCode.InternalError, `${pub.message} (request id ${who.requestId})`, {
        code: pub.code,
        requestId: who.requestId,
        retryable: err.retryable,
      });
    }
  };
}
