import { bodyParser } from '@koa/bodyparser';
import type { Config } from '@mcprt/config';
import { decideToolReach } from '@mcprt/policy';
import type { ToolRegistry } from '@mcprt/tools';
import type { Middleware } from 'koa';
import { insufficientScope } from '../http/bearer-auth.js';
import { INVALID_RPC_REQUEST, renderRpc, renderRpcUnavailable } from '../http/render-error.js';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Handler, Routes } from '../http/tenant-router.js';
import { buildMcpServer, type McpDeps, type ServerNeeds } from '../mcp/build-server.js';
import { rememberInitialize, rememberLogLevel } from '../mcp/client-capabilities.js';
import { inputAnswerOf } from '../mcp/legacy-input.js';
import { observeMcpRequest, type McpOperation, type OperationDeps } from '../mcp/operation.js';
import { paramHeaders } from '../mcp/param-headers.js';
import { McpRequestIdentity } from '../mcp/request-identity.js';
import { createMcpFront, type McpFront } from '../mcp/serve-request.js';

export type McpRouteDeps = McpDeps &
  OperationDeps &
  Parameters<typeof rememberInitialize>[0] & { config: Pick<Config, 'MCP_BODY_LIMIT' | 'MCP_MAX_BATCH' | 'MCP_MAX_CALLS_PER_REQUEST' | 'RETRY_AFTER_S'> };

/** A JSON-RPC message as far as the front needs to look at it. */
type Message = { jsonrpc?: unknown; id?: unknown; method?: unknown; params?: { name?: unknown } };

/** The only revision whose JSON-RPC batches MCP allows; it is also what a request without the header speaks. */
const BATCH_REVISION = '2025-03-26';

/**
 * JSON-RPC batches (a body that is an array): MCP 2025-03-26 had them, 2025-06-18 removed them. A
 * batch is refused unless the request speaks 2025-03-26 (its header, or none: MCP's default); then it
 * holds at most MCP_MAX_BATCH messages. Any request starts at most MCP_MAX_CALLS_PER_REQUEST tool calls.
 * Every element then goes through the same checks as a single request (`stepUp`, then the handler).
 */
function batchRules(config: Pick<Config, 'MCP_MAX_BATCH' | 'MCP_MAX_CALLS_PER_REQUEST'>): Middleware<ApiState> {
  const invalid = (ctx: Parameters<Middleware<ApiState>>[0], why: string) => renderRpc(ctx, 400, INVALID_RPC_REQUEST, `Invalid Request: ${why}`);
  return async (ctx, next) => {
    const body = ctx.request.body as unknown;
    if (Array.isArray(body)) {
      const version = ctx.get('mcp-protocol-version').trim() || BATCH_REVISION;
      if (version !== BATCH_REVISION)
        return invalid(ctx, `JSON-RPC batches are not part of MCP ${version} (only ${BATCH_REVISION} had them); send one message per request`);
      if (body.length === 0) return invalid(ctx, 'empty batch');
      if (body.length > config.MCP_MAX_BATCH) return invalid(ctx, `a batch may hold at most ${config.MCP_MAX_BATCH} messages`);
    }
    const calls = messages(body).filter((m) => m.method === 'tools/call').length;
    if (calls > config.MCP_MAX_CALLS_PER_REQUEST) return invalid(ctx, `one request may start at most ${config.MCP_MAX_CALLS_PER_REQUEST} tool calls`);
    await next();
  };
}

/** The optional handlers the body's messages can reach (build-server.ts, ServerNeeds). */
const NEEDS_NONE: ServerNeeds = { tasks: false, cancelNotification: false };
/**
 * A single tools/call of a tool that declares inputs or logs: a 2025 client is then answered over SSE,
 * where the API sends it the tool's input requests (legacy-input.ts) or log messages (tool-log.ts).
 */
function answersOverSse(r: { registry: Pick<ToolRegistry, 'get'> }, body: unknown): boolean {
  if (Array.isArray(body) || (body as Message | null)?.method !== 'tools/call') return false;
  const name = (body as { params?: { name?: unknown } }).params?.name;
  const tool = typeof name === 'string' ? r.registry.get(name) : undefined;
  return tool !== undefined && (tool.inputs !== undefined || tool.logs === true);
}

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
 * The fast path of the policy: before the SDK sees the body, every `tools/call` in it is
 * put to the policy (packages/policy) with the token's scopes; an `insufficient_scope` decision
 * becomes the HTTP 403 step-up challenge naming the union of the token's scopes and the ones needed,
 * so the client can re-authorize. The decision that holds is the handler's (submit-call.ts), which
 * calls the same policy again.
 */
function stepUp(d: { publicUrl: string; registry: Pick<ToolRegistry, 'get'> }): Middleware<ApiState> {
  return async (ctx, next) => {
    const tenant = required(ctx, 'tenant');
    const token = required(ctx, 'token');
    const needed: string[] = [];
    for (const m of messages(ctx.request.body)) {
      if (m.method !== 'tools/call' || typeof m.params?.name !== 'string') continue;
      const decision = decideToolReach({ tenant, tool: d.registry.get(m.params.name), tokenScopes: token.scopes });
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
    if (needed.length > 0) throw insufficientScope(d.publicUrl, tenant.slug, token.scopes, needed);
    await next();
  };
}

/** Hands the request to the protocol front with a builder for its own server (stateless: one per request). */
function handleMcp(r: McpRouteDeps, front: McpFront): Middleware<ApiState> {
  return async (ctx) => {
    let unavailable = false;
    const operation: McpOperation = {};
    const who = new McpRequestIdentity(ctx.state, operation, () => (unavailable = true));
    // A 2025 client's answer to a request a waiting tools/call sent it (legacy-input.ts): handed over.
    const answer = inputAnswerOf(who, ctx.request.body);
    if (answer) {
      await r.inputAnswers.route(answer.key, answer.answer);
      ctx.body = null;
      ctx.status = 202;
      return;
    }
    const needs = needsOf(ctx.request.body);
    rememberInitialize(r, who, ctx.request.body);
    rememberLogLevel(r, who, ctx.request.body);
    await observeMcpRequest(r, ctx, who.tenant, operation, () =>
      front.serve(ctx, (era, signal) => buildMcpServer(r, who, era, signal, needs), ctx.request.body, answersOverSse(r, ctx.request.body)),
    );
    // A single message answered "temporarily unavailable": say it in HTTP too (a batch keeps its 200,
    // its other answers may be fine).
    if (unavailable && !Array.isArray(ctx.request.body)) renderRpcUnavailable(ctx, r.config.RETRY_AFTER_S);
  };
}

const methodNotAllowed: Handler = (ctx) => {
  // Stateless server: no standalone SSE stream (GET) and no sessions to end (DELETE).
  ctx.set('Allow', 'POST');
  renderRpc(ctx, 405, -32000, 'Method not allowed: this server is stateless; use POST');
};

export function mountMcp(routes: Routes, chains: Chains, r: McpRouteDeps): void {
  const front = createMcpFront({ onerror: (e) => r.log.debug({ err: e }, 'mcp request refused by the protocol layer') });
  const parse = bodyParser({ enableTypes: ['json'], jsonLimit: r.config.MCP_BODY_LIMIT, encoding: 'utf-8' });
  routes.post(
    '/t/:tenant/mcp',
    chains.bearerWrite,
    parse as unknown as Handler,
    batchRules(r.config) as Handler,
    stepUp({ publicUrl: r.config.PUBLIC_URL, registry: r.registry }) as Handler,
    paramHeaders(r.registry) as Handler,
    handleMcp(r, front) as Handler,
  );
  routes.get('/t/:tenant/mcp', chains.open, methodNotAllowed);
  routes.delete('/t/:tenant/mcp', chains.open, methodNotAllowed);
}
