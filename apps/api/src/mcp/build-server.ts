import { randomUUID } from 'node:crypto';
import {
  CLIENT_CAPABILITIES_META_KEY,
  inputRequired,
  Server,
  ProtocolError,
  ProtocolErrorCode,
  UrlElicitationRequiredError,
  type CallToolResult,
  type ClientCapabilities,
  type InputRequiredResult,
  type ProtocolEra,
  type ServerCapabilities,
  type ServerContext,
} from '@modelcontextprotocol/server';
import { AjvJsonSchemaValidator } from '@modelcontextprotocol/server/validators/ajv';
import { awaitCall, cancelUserCall, connectLinkOf, eitherAborted, isFinal, submitCall, type ConnectLink } from '@mcprt/calls';
import { toAppError } from '@mcprt/errors';
import { jsonSchemaOf, type AnyTool } from '@mcprt/tools';
import { legacyTakesUrlElicitation } from './client-capabilities.js';
import { RESULT_TOOL, toCallToolResult } from '../calls/call-result.js';
import type { ApiResources } from '../resources.js';
import { toolCallUrl } from '../http/urls.js';
import { isDatabaseUnavailable, UNAVAILABLE_RPC_CODE } from '../http/outage.js';
import { advertisedOutputSchema } from './output-schema.js';
import type { RequestIdentity } from './request-identity.js';
import { createTaskResult, declaresTasks, registerTaskHandlers, TASKS_EXTENSION } from './tasks.js';
import { callToolCallResult, toolCallResultListing } from './tool-call-result.js';

export type { RequestIdentity } from './request-identity.js';

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
 * 2025-era `notifications/cancelled` names the JSON-RPC id of a request sent earlier, on another POST
 * (stateless: another server instance). The calls this API process is waiting for, by
 * (tenant, user, OAuth client, request id): a cancel that reaches the process holding the request
 * finds its call, and two apps of one user numbering their requests alike do not collide (the cancel
 * itself is still put to the policy's call rule with the notifying token).
 */
const waitingLegacy = new Map<string, string>();
const legacyKey = (who: RequestIdentity, requestId: string | number) =>
  `${who.tenant.id}:${who.user.id}:${who.token.clientId ?? ''}:${typeof requestId}:${requestId}`;

/**
 * A fresh MCP server for one HTTP request (stateless, DESIGN §5): it knows the tenant and the verified
 * user of this request only. The same server answers both protocol eras: the serving entry
 * (`serve-request.ts`) binds it to the era the request speaks, and the SDK shapes envelopes, errors
 * and `server/discover` accordingly. The low-level `Server`: this module registers its own
 * tools/list and tools/call handlers, so the high-level McpServer's registries would be dead weight.
 */
/**
 * Which handlers beyond tools/list and tools/call the request can need: the tasks methods
 * (2026-07-28) and the 2025 `notifications/cancelled` handler. The route says from the body, so a
 * plain tools/call does not pay for registering them (≈2 µs a request); by default, all.
 */
export interface ServerNeeds {
  tasks: boolean;
  cancelNotification: boolean;
}
const ALL_NEEDS: ServerNeeds = { tasks: true, cancelNotification: true };

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
    guard(r, who, async (req, ctx): Promise<CallToolResult | InputRequiredResult> => {
      if (req.params.name === RESULT_TOOL) return callToolCallResult(r, who, req.params.arguments, signal);
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
      if (outcome.kind === 'refused' && outcome.connect) return askToConnect(r, who, era, ctx, outcome.connect, outcome.message, outcome.code);
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
      if (isFinal(call)) return toCallToolResult(call, tool, pollUrl);
      // How long to wait, and what the answer becomes if the call outlives it (issue 11):
      // - a 2026-07-28 request declaring the tasks extension: a short wait, then a task;
      // - a request with a progressToken: progress notifications over SSE while waiting (longer);
      // - otherwise CALL_WAIT_MS, then a plain "still running" result (not an error).
      const asTask = era !== 'legacy' && declaresTasks(ctx.mcpReq.envelope);
      // Not enqueued (Redis away): the reconciler enqueues it later; answer now, without waiting.
      if (!outcome.enqueued) return asTask ? (createTaskResult(call, r.config) as unknown as CallToolResult) : toCallToolResult(call, tool, pollUrl);
      const progressToken = req.params._meta?.progressToken;
      const tick =
        !asTask && progressToken !== undefined
          ? {
              everyMs: r.config.PROGRESS_INTERVAL_MS,
              fn: (elapsedMs: number) =>
                ctx.mcpReq.notify({
                  method: 'notifications/progress',
                  params: { progressToken, progress: Math.round(elapsedMs / 1000), message: `Tool call ${call.id} is still running.` },
                }),
            }
          : undefined;
      const timeoutMs = asTask ? Math.min(r.config.TASK_WAIT_MS, r.config.CALL_WAIT_MS) : tick ? r.config.PROGRESS_WAIT_MS : r.config.CALL_WAIT_MS;
      const waitKey = era === 'legacy' ? legacyKey(who, ctx.mcpReq.id) : undefined;
      if (waitKey) waitingLegacy.set(waitKey, call.id);
      try {
        call = await awaitCall(r, who, call, { timeoutMs, signal: eitherAborted(signal, r.drain), fresh: true, tick });
      } finally {
        if (waitKey && waitingLegacy.get(waitKey) === call.id) waitingLegacy.delete(waitKey);
      }
      // 2026-07-28 has no `notifications/cancelled` over HTTP: a client cancels a request by closing
      // its response stream (the SDK client does exactly that on cancel or timeout). A 2025 client's
      // hang-up is not a cancel (it sends notifications/cancelled, below).
      if (era !== 'legacy' && signal.aborted && !r.drain?.aborted && !isFinal(call)) await cancelUserCall(r, who, call.id);
      if (asTask && !isFinal(call)) return createTaskResult(call, r.config) as unknown as CallToolResult;
      // Refused at dequeue for the same reason (the credential changed meanwhile): the same link. A
      // refresh the provider refused (`reauth_required`, credential-refresh.ts) names only the route:
      // the link is made here, for this user.
      const details = call.error?.details;
      const link = call.status === 'failed' ? (connectOfError(details) ?? reauthLink(r, who, tool, details) ?? upgradeLink(r, who, details)) : undefined;
      if (link && call.error) return askToConnect(r, who, era, ctx, link, call.error.message, call.error.code);
      return toCallToolResult(call, tool, pollUrl);
    }),
  );

  if (era === 'legacy' && needs.cancelNotification) {
    // A 2025 `notifications/cancelled` for a tools/call this process is waiting for (stateless: the
    // request it names arrived on another POST). Only the sender's own calls are found (the key holds
    // tenant and user). A request held by another API replica is not found: its call runs on.
    mcp.setNotificationHandler('notifications/cancelled', async (n) => {
      const callId = n.params.requestId === undefined ? undefined : waitingLegacy.get(legacyKey(who, n.params.requestId));
      if (!callId) return;
      await cancelUserCall(r, who, callId).catch((err: unknown) => who.log.warn({ err, callId }, 'notifications/cancelled: could not cancel the call'));
    });
  } else if (era !== 'legacy' && needs.tasks) {
    registerTaskHandlers(mcp, r, who, (h) => guard(r, who, h));
  }

  return mcp;
}

/** The connect link the worker put in a failed call's error details (process-call.ts), if any. */
function connectOfError(details: Record<string, unknown> | undefined): ConnectLink | undefined {
  const c = details?.connect as Partial<ConnectLink> | undefined;
  return c && typeof c.url === 'string' && typeof c.provider === 'string' && Array.isArray(c.scopes)
    ? { url: c.url, provider: c.provider, scopes: c.scopes.map(String) }
    : undefined;
}

/** A connect link for a call that failed because the provider refused its refresh token (details carry the provider). */
function reauthLink(r: ApiResources, who: RequestIdentity, tool: AnyTool, details: Record<string, unknown> | undefined): ConnectLink | undefined {
  const provider = details?.provider;
  if (typeof details?.reconnectUrl !== 'string' || typeof provider !== 'string' || tool.upstream?.provider !== provider) return undefined;
  return connectLinkOf(r, who.tenant, who.user.id, { provider, scopes: tool.upstream.scopes });
}

/**
 * A connect link for a call the provider itself refused for a missing scope (the upstream client's 403,
 * packages/tools/src/upstream.ts: details carry the provider and the scopes it named), made for this user.
 */
function upgradeLink(r: ApiResources, who: RequestIdentity, details: Record<string, unknown> | undefined): ConnectLink | undefined {
  const provider = details?.provider;
  const scopes = details?.scopes;
  if (typeof details?.upgradeUrl !== 'string' || typeof provider !== 'string' || !Array.isArray(scopes)) return undefined;
  return connectLinkOf(r, who.tenant, who.user.id, { provider, scopes: scopes.map(String) });
}

/**
 * A call that needs the user to connect a provider or grant it more scopes (issue 8 §8) answers with
 * the connect link, in the shape the client's protocol era and capabilities allow:
 *
 * - 2026-07-28, the request's client capabilities declare `elicitation.url`: an `input_required`
 *   result with one URL-mode `elicitation/create` (the SDK's multi-round-trip flow); the client opens
 *   the link, answers, and retries the call. A retry that still fails (declined, not finished) gets the
 *   tool error below instead of asking again.
 * - 2025-11-25, the client declared `elicitation.url` at `initialize`: JSON-RPC error -32042
 *   (URLElicitationRequiredError) with the elicitation; the client opens the link and calls again.
 * - otherwise: a tool error (`isError`) whose text and `_meta` carry the link.
 */
async function askToConnect(
  r: ApiResources,
  who: RequestIdentity,
  era: ProtocolEra,
  ctx: ServerContext,
  link: ConnectLink,
  message: string,
  code: string,
): Promise<CallToolResult | InputRequiredResult> {
  const key = `connect_${link.provider}`;
  const text = message.includes(link.url) ? message : `${message} Connect at ${link.url}`;
  if (era !== 'legacy') {
    // The SDK types the envelope opaquely; it has validated it against the revision's schema.
    const caps = (ctx.mcpReq.envelope as Record<string, unknown> | undefined)?.[CLIENT_CAPABILITIES_META_KEY] as ClientCapabilities | undefined;
    if (caps?.elicitation?.url && ctx.mcpReq.inputResponses?.[key] === undefined)
      return inputRequired({ inputRequests: { [key]: inputRequired.elicitUrl({ message: text, url: link.url }) } });
  } else if (await legacyTakesUrlElicitation(r, who)) {
    throw new UrlElicitationRequiredError([{ mode: 'url', elicitationId: randomUUID(), url: link.url, message: text }], text);
  }
  return {
    content: [{ type: 'text', text }],
    isError: true,
    _meta: { 'io.mcprt/error': { code, connect: link } },
  };
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
