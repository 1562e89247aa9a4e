import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import { AppError } from '@mcprt/errors';
import type { Middleware } from 'koa';
import { bearerAuth } from '../http/bearer-auth.js';
import { originCheck } from '../http/origin-check.js';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import { resourceMetadataUrl } from '../http/urls.js';
import { buildMcpServer } from '../mcp/build-server.js';
import { createMcpFront, type McpFront } from '../mcp/serve-request.js';
import type { ApiResources } from '../resources.js';

/**
 * First authorization pass (DESIGN §3.2), before the SDK sees the body: a tools/call for an enabled
 * tool whose MCP scope the token lacks is a 403 `insufficient_scope` naming the scope, so the client
 * can step up.
 */
function scopeCheck(r: ApiResources): Middleware<ApiState> {
  return async (ctx, next) => {
    const body = ctx.request.body as { method?: unknown; params?: { name?: unknown } } | undefined;
    if (body && body.method === 'tools/call' && typeof body.params?.name === 'string') {
      const tenant = required(ctx, 'tenant');
      const tool = r.registry.get(body.params.name);
      if (tool && tenant.enabledTools.includes(tool.name) && !required(ctx, 'token').scopes.includes(tool.mcpScope)) {
        const scope = [...new Set([...required(ctx, 'token').scopes, tool.mcpScope])].join(' ');
        await required(ctx, 'scope').audit.append({
          userId: required(ctx, 'user').id,
          clientId: ctx.state.token?.clientId,
          tool: tool.name,
          action: 'tool_call.refused',
          decision: 'deny',
          reason: `insufficient_scope: ${tool.mcpScope}`,
          requestId: ctx.state.requestId,
        });
        throw new AppError('policy', 'insufficient_scope', `this tool needs the scope ${tool.mcpScope}`, {
          status: 403,
          details: {
            wwwAuthenticate: `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${resourceMetadataUrl(r.config.PUBLIC_URL, tenant.slug)}", error_description="this tool needs the scope ${tool.mcpScope}"`,
          },
        });
      }
    }
    await next();
  };
}

/** Hands the request to the protocol front with a builder for its own server (stateless: one per request). */
function handleMcp(r: ApiResources, front: McpFront): Middleware<ApiState> {
  return async (ctx) => {
    const state = ctx.state;
    const who = {
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
    await front.serve(ctx, (era, signal) => buildMcpServer(r, who, era, signal), ctx.request.body);
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
    bearerAuth({ publicUrl: r.config.PUBLIC_URL, directory: r.directory, users: r.users, verified: r.verified }),
    parse as unknown as Middleware<ApiState>,
    scopeCheck(r),
    handleMcp(r, front),
  );
  router.get('/t/:tenant/mcp', methodNotAllowed);
  router.delete('/t/:tenant/mcp', methodNotAllowed);
}
