import { BUILTIN_AUTH_EXTENSIONS } from '../auth-server/extensions.js';
import { ProtocolError, type ProtocolEra, type Server, type ServerCapabilities } from '@modelcontextprotocol/server';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { toAppError } from '@mcprt/errors';
import { principalKind, toolsToList, type ListedTool } from '@mcprt/policy';
import { inputSchemaOf, type AnyTool } from '@mcprt/tools';
import { databaseUnavailable, isDatabaseUnavailable } from '../http/outage.js';
import { toProtocolError } from '../http/render-error.js';
import { advertisedOutputSchema } from './output-schema.js';
import type { RequestIdentity } from './request-identity.js';
import { registerTaskHandlers, TASKS_EXTENSION } from './tasks.js';
import { TaskAwareServer } from './task-aware-server.js';
import { toolCallResultListing } from './tool-call-result.js';
import { answerToolCall, registerLegacyCancel, type McpDeps } from './tools-call.js';

export { IDEMPOTENCY_META, type McpDeps } from './tools-call.js';

export type { RequestIdentity } from './request-identity.js';

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
/** A built-in tenant's own authorization server also implements the MCP authorization extensions. */
const BUILTIN_MODERN_CAPABILITIES: ServerCapabilities = { ...BASE_CAPABILITIES, extensions: { [TASKS_EXTENSION]: {}, ...BUILTIN_AUTH_EXTENSIONS } };
const modernCapabilities = (authMode: string) => (authMode === 'builtin' ? BUILTIN_MODERN_CAPABILITIES : MODERN_CAPABILITIES);

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
 * A fresh MCP server for one HTTP request (stateless: no session outlives the request): it knows the
 * tenant and the verified user of this request only. The same server answers both protocol eras: the
 * serving entry (`serve-request.ts`) binds it to the era the request speaks, and the SDK shapes
 * envelopes, errors and `server/discover` accordingly. The low-level `Server`: this module registers
 * its own tools/list and tools/call handlers, so the high-level McpServer's registries would be dead weight.
 */
export function buildMcpServer(r: McpDeps, who: RequestIdentity, era: ProtocolEra, signal: AbortSignal, needs: ServerNeeds = ALL_NEEDS): Server {
  const mcp = new TaskAwareServer(
    { name: 'mcprt', version: '0.1.0' },
    { capabilities: era === 'legacy' ? LEGACY_CAPABILITIES : modernCapabilities(who.tenant.authMode), jsonSchemaValidator: validator },
  );
  mcp.setRequestHandler(
    'tools/list',
    guard(r, who, async () => listTools(r, who)),
  );
  mcp.setRequestHandler(
    'tools/call',
    guard(r, who, async (req, ctx) => {
      const answer = await answerToolCall({ r, who, era, signal, req, ctx, mcp });
      // A tool execution error is a result, not a JSON-RPC error: the conventions' `tool_error`.
      if ((answer as { isError?: boolean }).isError === true && who.operation) who.operation.errorType = 'tool_error';
      return answer;
    }),
  );
  if (era === 'legacy' && needs.cancelNotification) registerLegacyCancel(mcp, r, who);
  else if (era !== 'legacy' && needs.tasks) registerTaskHandlers(mcp, r, who, (h) => guard(r, who, h));
  return mcp;
}

/** Where a listed tool the token may not call yet says which scope would unlock it. */
export const LOCKED_META = 'io.mcprt/locked';

/**
 * The tools this token may call (the policy's `toolsToList`, the same rule `tools/call` applies),
 * and, when the tenant lists everything, the others marked locked with the scope a new sign-in
 * would grant. `tool_call_result` is always there: every token may poll its own calls.
 */
function listTools(r: McpDeps, who: RequestIdentity) {
  const listed = toolsToList({
    tenant: who.tenant,
    tools: r.registry.enabledFor(who.tenant.enabledTools),
    tokenScopes: who.token.scopes,
    principal: principalKind(who.user),
  });
  return {
    tools: [
      ...listed.map(({ tool: t, locked }: ListedTool<AnyTool>) => ({
        name: t.name,
        title: t.title,
        description: locked ? `${t.description} (${locked.message})` : t.description,
        inputSchema: inputSchemaOf(t),
        ...(t.output ? { outputSchema: advertisedOutputSchema({ ...t, output: t.output }) } : {}),
        annotations: t.annotations,
        ...(t.taskSupport ? { execution: { taskSupport: t.taskSupport } } : {}),
        ...(locked ? { _meta: { [LOCKED_META]: locked } } : {}),
      })),
      toolCallResultListing,
    ],
  };
}

/**
 * Every MCP handler runs inside this: protocol errors pass as they are; anything else (a database
 * error, a bug) is logged once with the request id and answered by the JSON-RPC renderer
 * (`toProtocolError`): the catalogue's code, the request id and the error's public code, never an
 * unexposed message.
 */
function guard<A extends unknown[], R>(r: McpDeps, who: RequestIdentity, handler: (...args: A) => Promise<R>): (...args: A) => Promise<R> {
  return async (...args) => {
    try {
      return await handler(...args);
    } catch (e) {
      const answer = rpcErrorOf(r, who, e);
      // The JSON-RPC error code the answer carries, for the request's span and metric (operation.ts).
      if (who.operation) who.operation.errorType = String(answer.code);
      throw answer;
    }
  };
}

function rpcErrorOf(r: McpDeps, who: RequestIdentity, e: unknown): ProtocolError {
  if (e instanceof ProtocolError) return e;
  // Postgres unreachable before anything was recorded: a specific, retryable error (no driver
  // text), logged once per outage; the route turns it into HTTP 503 + Retry-After.
  if (isDatabaseUnavailable(e)) {
    r.outages.report('postgres', e);
    who.onUnavailable?.();
    return toProtocolError(databaseUnavailable(r.config.RETRY_AFTER_S, e), who.requestId);
  }
  const err = toAppError(e);
  if (err.expose) who.log.warn({ code: err.code }, 'mcp request failed');
  else who.log.error({ err: e }, 'mcp request failed');
  return toProtocolError(err, who.requestId);
}
