import { Server, ProtocolError, ProtocolErrorCode, type ProtocolEra, type ServerCapabilities } from '@modelcontextprotocol/server';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { cancelUserCall } from '@mcprt/calls';
import { toAppError } from '@mcprt/errors';
import { jsonSchemaOf, type AnyTool } from '@mcprt/tools';
import type { ApiResources } from '../resources.js';
import { isDatabaseUnavailable, UNAVAILABLE_RPC_CODE } from '../http/outage.js';
import { advertisedOutputSchema } from './output-schema.js';
import type { RequestIdentity } from './request-identity.js';
import { registerTaskHandlers, TASKS_EXTENSION } from './tasks.js';
import { toolCallResultListing } from './tool-call-result.js';
import { answerToolCall, legacyWaitingCall } from './tools-call.js';

export type { RequestIdentity } from './request-identity.js';
export { IDEMPOTENCY_META } from './tools-call.js';

/** One validator per process: the SDK would otherwise build one for every request. */
const validator = new AjvJsonSchemaValidator();

/**
 * What the server offers. Tools, in both eras. 2025 clients may also send `logging/setLevel` (the
 * SDK answers it); the server emits no log notifications, and a stateless server has no session for
 * the level to outlive the request. 2026-07-28 removed `logging/setLevel` (the level rides each
 * request's `_meta`), so the modern era does not advertise the deprecated capability.
 */
const BASE_CAPABILITIES: ServerCapabilities = { tools: { listChanged: false } };
/** 2026-07-28 also offers the tasks extension (tasks.ts), advertised in `server/discover`. */
const MODERN_CAPABILITIES: ServerCapabilities = { ...BASE_CAPABILITIES, extensions: { [TASKS_EXTENSION]: {} } };
const LEGACY_CAPABILITIES: ServerCapabilities = { ...BASE_CAPABILITIES, logging: {} };

/**
 * The SDK's Server, letting a tools/call answer with a task. The SDK validates every tools/call
 * result as a CallToolResult (and gives one without `content` an empty `content`); a CreateTaskResult
 * (`resultType: "task"`, tasks.ts) is another shape, so it is passed around that check untouched.
 * `_wrapHandler` is the SDK's documented hook for subclasses to wrap handlers.
 */
class TaskAwareServer extends Server {
  protected override _wrapHandler(method: string, handler: Parameters<Server['_wrapHandler']>[1]): ReturnType<Server['_wrapHandler']> {
    if (method !== 'tools/call') return super._wrapHandler(method, handler);
    const validated = super._wrapHandler(method, async (req, ctx) => {
      const out = await handler(req, ctx);
      if ((out as { resultType?: unknown }).resultType === 'task') throw new TaskAnswer(out);
      return out;
    });
    return async (req, ctx) => {
      try {
        return await validated(req, ctx);
      } catch (e) {
        if (e instanceof TaskAnswer) return e.result;
        throw e;
      }
    };
  }
}

/** Carries a CreateTaskResult past the SDK's CallToolResult check (see TaskAwareServer). */
class TaskAnswer {
  constructor(readonly result: Awaited<ReturnType<ReturnType<Server['_wrapHandler']>>>) {}
}

/**
 * Which handlers beyond tools/list and tools/call the request can need: the tasks methods
 * (2026-07-28) and the 2025 `notifications/cancelled` handler. The route says from the body, so a
 * plain tools/call does not pay for registering them; by default, all.
 */
export interface ServerNeeds {
  tasks: boolean;
  cancelNotification: boolean;
}
const ALL_NEEDS: ServerNeeds = { tasks: true, cancelNotification: true };

/**
 * A fresh MCP server for one HTTP request (stateless: any API replica answers any request): it
 * knows the tenant and the verified user of this request only. The same server answers both protocol eras: the serving entry
 * (`serve-request.ts`) binds it to the era the request speaks, and the SDK shapes envelopes, errors
 * and `server/discover` accordingly. The low-level `Server`: this module registers its own
 * tools/list and tools/call handlers, so the high-level McpServer's registries would be dead weight.
 */
export function buildMcpServer(r: ApiResources, who: RequestIdentity, era: ProtocolEra, signal: AbortSignal, needs: ServerNeeds = ALL_NEEDS): Server {
  const mcp = new TaskAwareServer(
    { name: 'mcprt', version: '0.1.0' },
    { capabilities: era === 'legacy' ? LEGACY_CAPABILITIES : MODERN_CAPABILITIES, jsonSchemaValidator: validator },
  );
  const enabled = () => r.registry.enabledFor(who.tenant.enabledTools);

  mcp.setRequestHandler(
    'tools/list',
    guard(r, who, async () => ({
      tools: [
        ...enabled().map((t: AnyTool) => ({
          name: t.name,
          title: t.title,
          description: t.description,
          inputSchema: jsonSchemaOf(t.input, 'input') as { type: 'object' },
          ...(t.output ? { outputSchema: advertisedOutputSchema({ ...t, output: t.output }) } : {}),
          annotations: t.annotations,
        })),
        toolCallResultListing,
      ],
    })),
  );

  mcp.setRequestHandler(
    'tools/call',
    guard(r, who, (req, ctx) => answerToolCall(r, who, era, signal, req, ctx)),
  );

  if (era === 'legacy' && needs.cancelNotification) {
    // A 2025 `notifications/cancelled` for a tools/call this process is waiting for (stateless: the
    // request it names arrived on another POST). Only the sender's own calls are found (the key holds
    // tenant and user). A request held by another API replica is not found: its call runs on.
    mcp.setNotificationHandler('notifications/cancelled', async (n) => {
      const callId = n.params.requestId === undefined ? undefined : legacyWaitingCall(who, n.params.requestId);
      if (!callId) return;
      await cancelUserCall(r, who, callId).catch((err: unknown) => who.log.warn({ err, callId }, 'notifications/cancelled: could not cancel the call'));
    });
  } else if (era !== 'legacy' && needs.tasks) {
    registerTaskHandlers(mcp, r, who, (h) => guard(r, who, h));
  }

  return mcp;
}

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
