import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import { decideToolCall } from '@mcprt/policy';
import type { Middleware, ParameterizedContext } from 'koa';
import { bearerAuth, insufficientScope } from '../http/bearer-auth.js';
import { originCheck } from '../http/origin-check.js';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import { buildMcpServer, type ServerNeeds } from '../mcp/build-server.js';
import { rememberInitialize } from '../mcp/client-capabilities.js';
import { createMcpFront, type McpFront } from '../mcp/serve-request.js';
import type { ApiResources } from '../resources.js';

/** A JSON-RPC message as far as the front needs to look at it. */
type Message = { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: { name?: unknown } };

/** The only revision whose JSON-RPC batches MCP allows; it is also what a request without the header speaks. */
const BATCH_REVISION = '2025-03-26';

/** A JSON-RPC error straight from the front, before the SDK (the request's id when it has one). */
function rpcError(ctx: ParameterizedContext, status: number, code: number, message: string, id: unknown = null): void {
  ctx.status = status;
  ctx.body = { jsonrpc: '2.0', error: { code, message }, id: typeof id === 'string' || typeof id === 'number' ? id : null };
}

/**
 * JSON-RPC batches (a body that is an array): MCP 2025-03-26 had them, 2025-06-18 removed them. A
 * batch is refused unless the request speaks 2025-03-26 (its header, or none: MCP's default); then it
 * holds at most MCP_MAX_BATCH messages. Any request starts at most MCP_MAX_CALLS_PER_REQUEST tool calls.
 * Every element then goes through the same checks as a single request (`stepUp`, then the handler).
 */
function batchRules(r: ApiResources): Middleware<ApiState> {
  return async (ctx, next) => {
    const body = ctx.request.body as unknown;
    if (Array.isArray(body)) {
      const version = ctx.get('mcp-protocol-version').trim() || BATCH_REVISION;
      if (version !== BATCH_REVISION)
        return rpcError(
          ctx,
          400,
          -32600,
          `Invalid Request: JSON-RPC batches are not part of MCP ${version} (only ${BATCH_REVISION} had them); send one message per request`,
        );
      if (body.length === 0) return rpcError(ctx, 400, -32600, 'Invalid Request: empty batch');
      if (body.length > r.config.MCP_MAX_BATCH)
        return rpcError(ctx, 400, -32600, `Invalid Request: a batch may hold at most ${r.config.MCP_MAX_BATCH} messages`);
    }
    const calls = messages(body).filter((m) => m.method === 'tools/call').length;
    if (calls > r.config.MCP_MAX_CALLS_PER_REQUEST)
      return rpcError(ctx, 400, -32600, `Invalid Request: one request may start at most ${r.config.MCP_MAX_CALLS_PER_REQUEST} tool calls`);
    await next();
  };
}

/** The optional handlers the body's messages can reach (build-server.ts, ServerNeeds). */
const NEEDS_NONE: ServerNeeds = { tasks: false, cancelNotification: false };
function needsOf(body: unknown): ServerNeeds {
  // The steady state (one tools/call): no allocation.
  if (!Array.isArray(body) && (body as Message | null)?.method === 'tools/call') return NEEDS_NONE;
  let tasks = false;
  let cancelNotification = false;
  for (const m of messages(body)) {
    if (typeof m.method !== 'string') continue;
    if (m.method.startsWith('tasks/')) tasks = true;
    else if (m.method === 'notifications/cancelled') cancelNotification = true;
  }
  return { tasks, cancelNotification };
}

const messages = (body: unknown): Message[] => (Array.isArray(body) ? body : [body]).filter((m): m is Message => typeof m === 'object' && m !== null);

/**
 * The fast path of the policy (DESIGN §3.2): before the SDK sees the body, every `tools/call` in it is
 * put to the policy (packages/policy) with the token's scopes; an `insufficient_scope` decision
 * becomes the HTTP 403 step-up challenge naming the union of the token's scopes and the ones needed,
 * so the client can re-authorize. The decision that holds is the handler's (submit-call.ts), which
 * calls the same policy again.
 */
function stepUp(r: ApiResources): Middleware<ApiState> {
  return async (ctx, next) => {
    const tenant = required(ctx, 'tenant');
    const token = required(ctx, 'token');
    const needed: string[] = [];
    for (const m of messages(ctx.request.body)) {
      if (m.method !== 'tools/call' || typeof m.params?.name !== 'string') continue;
      const decision = decideToolCall({ tenant, tool: r.registry.get(m.params.name), tokenScopes: token.scopes, credential: undefined });
      if (!decision.allow && decision.code === 'insufficient_scope' && decision.requiredScope && !needed.includes(decision.requiredScope)) {
        needed.push(decision.requiredScope);
        await required(ctx, 'scope').audit.append({
          userId: required(ctx, 'user').id,
          clientId: token.clientId,
          tool: m.params.name,
          action: 'tool_call.refused',
          decision: 'deny',
          reason: `insufficient_scope: ${decision.requiredScope}`,
          requestId: ctx.state.requestId,
        });
      }
    }
    if (needed.length > 0) throw insufficientScope(r.config.PUBLIC_URL, tenant.slug, token.scopes, needed);
    await next();
  };
}

/** Hands the request to the protocol front with a builder for its own server (stateless: one per request). */
function handleMcp(r: ApiResources, front: McpFront): Middleware<ApiState> {
  return async (ctx) => {
    const state = ctx.state;
    let unavailable = false;
    const who = {
      onUnavailable: () => (unavailable = true),
      tenant: required(ctx, 'tenant'),
      scope: required(ctx, 'scope'),
      token: required(ctx, 'token'),
      user: required(ctx, 'user'),
      requestId: state.requestId,
      // A getter, like ctx.state.log: the pino child is built only if something is logged.
      get log() {
        return state.log;
      },
    };
    const needs = needsOf(ctx.request.body);
    rememberInitialize(r, who, ctx.request.body);
    await front.serve(ctx, (era, signal) => buildMcpServer(r, who, era, signal, needs), ctx.request.body);
    // A single message answered "temporarily unavailable": say it in HTTP too (a batch keeps its 200,
    // its other answers may be fine).
    if (unavailable && !Array.isArray(ctx.request.body)) {
      ctx.status = 503;
      ctx.set('Retry-After', String(r.config.RETRY_AFTER_S));
    }
  };
}

const methodNotAllowed: Middleware = (ctx) => {
  // Stateless server: no standalone SSE stream (GET) and no sessions to end (DELETE).
  ctx.set('Allow', 'POST');
  ctx.status = 405;
  ctx.body = { jsonrpc: '2.0', error: { code: -32000, message: 'Method not allowed: this server is stateless; use POST' }, id: null };
};

export function mountMcp(router: Router<ApiState>, r: ApiResources): void {
  const front = createMcpFront({ onerror: (e) => r.log.debug({ err: e }, 'mcp request refused by the protocol layer') });
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: r.config.MCP_BODY_LIMIT, encoding: 'utf-8' });
  router.post(
    '/t/:tenant/mcp',
    originCheck(r.config.PUBLIC_URL, r.config.ALLOWED_ORIGINS),
    resolveTenant(r.tenants, r.db.db),
    bearerAuth({ publicUrl: r.config.PUBLIC_URL, directory: r.directory, users: r.users, verified: r.verified, authServers: r.authServers }),
    parse as unknown as Middleware<ApiState>,
    batchRules(r),
    stepUp(r),
    handleMcp(r, front),
  );
  router.get('/t/:tenant/mcp', methodNotAllowed);
  router.delete('/t/:tenant/mcp', methodNotAllowed);
}
