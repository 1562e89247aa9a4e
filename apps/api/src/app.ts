import Router from '@koa/router';
import Koa from 'koa';
import { mountAccount } from './auth-server/account.js';
import { mountConnect } from './auth-server/connect.js';
import { mountAuthServer } from './auth-server/mount.js';
import { errorHandler } from './http/error-handler.js';
import { frontGuard } from './http/origin-check.js';
import type { ApiState } from './http/state.js';
import type { ApiResources } from './resources.js';
import { mountAdmin } from './routes/admin.js';
import { mountAuditKeys } from './routes/audit-keys.js';
import { mountHealth } from './routes/health.js';
import { mountHistory } from './routes/history.js';
import { mountOpenApi } from './routes/openapi.js';
import { mountMcp } from './routes/mcp.js';
import { mountToolCallCancel } from './routes/tool-call-cancel.js';
import { mountToolCalls } from './routes/tool-calls.js';
import { mountWellKnown } from './routes/well-known.js';

export function createApp(r: ApiResources, opts: { isDraining?: () => boolean } = {}): Koa<ApiState> {
  // Proxy trust: only the configured number of hops (X-Forwarded-For entries, from the right) is
  // believed, so a client cannot choose the address rate limits are keyed by.
  const app = new Koa<ApiState>({ proxy: r.config.TRUST_PROXY > 0, maxIpsCount: r.config.TRUST_PROXY });
  // Signed cookies of the sign-in flow share the authorization servers' key ring.
  app.keys = r.authServers.cookieKeys;
  const router = new Router<ApiState>();
  // Connect first: its sign-in callback shares /t/{slug}/login/callback with the interaction login (it passes on what is not its own).
  mountConnect(router, r, r.authServers, r.upstreamLogin);
  const authServer = mountAuthServer(router, r, r.authServers, r.upstreamLogin);
  mountAccount(router, r, r.authServers);
  mountHealth(router, r, () => opts.isDraining?.() ?? false);
  mountWellKnown(router, r);
  mountMcp(router, r);
  mountToolCalls(router, r);
  mountToolCallCancel(router, r);
  mountHistory(router, r);
  mountAdmin(router, r);
  mountAuditKeys(router, r);
  mountOpenApi(router, r);
  // Outside the error handler, so it counts every answer with its final status: refusals and errors
  // (which the error handler turns into responses) included.
  app.use(async (ctx, next) => {
    try {
      await next();
    } finally {
      r.metrics.httpRequests.inc({ route: (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched', status: String(ctx.status) });
    }
  });
  app.use(errorHandler(r.log, { outages: r.outages, retryAfterS: r.config.RETRY_AFTER_S }));
  // Drain (docs/operations.md): every answer closes its connection (no new request rides a keep-alive
  // connection), and new requests other than the probes are refused, retryable, before anything is recorded.
  const isDraining = opts.isDraining ?? (() => false);
  app.use(async (ctx, next) => {
    if (!isDraining()) return next();
    ctx.set('Connection', 'close');
    if (ctx.path === '/readyz' || ctx.path === '/healthz') return next();
    ctx.status = 503;
    ctx.set('Retry-After', String(r.config.RETRY_AFTER_S));
    ctx.body = { error: 'draining', error_description: 'this server is shutting down; retry (another replica will answer)', request_id: ctx.state.requestId };
  });
  // Host refusal (DNS rebinding) and framing headers for every route but the probes, AS pages included.
  app.use(frontGuard(r.config.PUBLIC_URL));
  app.use(authServer);
  app.use(router.routes());
  app.use(router.allowedMethods());
  // Errors are logged once, in errorHandler; Koa's default handler would print them again.
  app.silent = true;
  return app;
}
