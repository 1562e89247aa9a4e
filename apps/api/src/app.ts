import Koa from 'koa';
import { appError } from '@mcprt/errors';
import type { Metrics } from '@mcprt/observability';
import type { Middleware } from 'koa';
import { mountConsole } from './admin/mount.js';
import { OperatorSessions } from './admin/session.js';
import { mountAccount } from './auth-server/account.js';
import { BrowserCookies } from './auth-server/browser-session.js';
import { mountApprovalPage } from './auth-server/approval-page.js';
import { mountApprovalApi } from './routes/approvals.js';
import { mountConnect } from './auth-server/connect.js';
import { mountAuthServer } from './auth-server/mount.js';
import { errorHandler } from './http/error-handler.js';
import { frontGuard } from './http/origin-check.js';
import type { ApiState } from './http/state.js';
import { declareChains, Routes, type Chains } from './http/tenant-router.js';
import type { ApiResources } from './resources.js';
import { mountAdmin } from './routes/admin.js';
import { mountAuditKeys } from './routes/audit-keys.js';
import { mountHealth } from './routes/health.js';
import { mountHistory } from './routes/history.js';
import { mountMcp } from './routes/mcp.js';
import { mountOpenApi } from './routes/openapi.js';
import { mountToolCallCancel } from './routes/tool-call-cancel.js';
import { mountToolCalls } from './routes/tool-calls.js';
import { mountWellKnown } from './routes/well-known.js';

export interface AppOptions {
  isDraining?: () => boolean;
}

export function createApp(r: ApiResources, opts: AppOptions = {}): Koa<ApiState> {
  const isDraining = opts.isDraining ?? (() => false);
  // Proxy trust: only the configured number of hops (X-Forwarded-For entries, from the right) is
  // believed, so a client cannot choose the address rate limits are keyed by.
  const app = new Koa<ApiState>({ proxy: r.config.TRUST_PROXY > 0, maxIpsCount: r.config.TRUST_PROXY });
  // Signed cookies of the sign-in flow share the authorization servers' key ring.
  app.keys = r.authServers.cookieKeys;
  const { routes, passthrough } = mountRoutes(r, isDraining);
  app.use(countAnswers(r.metrics));
  app.use(errorHandler(r.log, { outages: r.outages, retryAfterS: r.config.RETRY_AFTER_S }));
  app.use(refuseWhileDraining(isDraining, r.config.RETRY_AFTER_S));
  // Host refusal (DNS rebinding) and framing headers for every route but the probes, AS pages included.
  app.use(frontGuard(r.config.PUBLIC_URL));
  app.use(passthrough);
  app.use(routes.router.routes());
  app.use(routes.router.allowedMethods());
  // Errors are logged once, in errorHandler; Koa's default handler would print them again.
  app.silent = true;
  return app;
}

/**
 * Every route, each with its declared chain (http/tenant-router.ts), and each given only what it
 * uses. Also returns the authorization servers' pass-through, which runs before the router.
 */
export function mountRoutes(r: ApiResources, isDraining: () => boolean): { routes: Routes; chains: Chains; passthrough: Middleware<ApiState> } {
  const publicUrl = r.config.PUBLIC_URL;
  const sessions = new OperatorSessions(r.redis, r.keys);
  const cookies = new BrowserCookies(r.keyring, publicUrl.startsWith('https://'));
  const chains = declareChains({
    tenants: r.tenants,
    db: r.db,
    bearer: { publicUrl, directory: r.directory, users: r.users, verified: r.verified, authServers: r.authServers },
    allowedOrigins: r.config.ALLOWED_ORIGINS,
    operators: { sessions, db: r.db.db, cookies },
  });
  const routes = new Routes();
  const servers = r.authServers;
  // Connect first: its sign-in callback shares /t/{slug}/login/callback with the interaction login (it passes on what is not its own).
  mountConnect(routes.router, r, servers, r.upstreamLogin);
  const passthrough = mountAuthServer(routes, chains, {
    publicUrl,
    keyring: r.keyring,
    servers,
    upstream: r.upstreamLogin,
    tenants: r.tenants,
    redis: r.redis,
    keys: r.keys,
  });
  mountAccount(routes, chains, { publicUrl, db: r.db.db, sql: r.db.sql, keyring: r.keyring, servers });
  mountApprovalPage(routes, chains, { publicUrl, keyring: r.keyring, servers, registry: r.registry, engine: r });
  mountHealth(routes, chains, { ping: { postgres: () => r.db.sql`select 1`, redis: () => r.redis.ping() }, isDraining });
  mountWellKnown(routes, chains, { publicUrl, registry: r.registry });
  mountMcp(routes, chains, r);
  mountToolCalls(routes, chains, { publicUrl, registry: r.registry });
  mountToolCallCancel(routes, chains, { publicUrl, registry: r.registry, engine: r });
  mountHistory(routes, chains, { sql: r.db.sql, publicUrl, registry: r.registry });
  mountAdmin(routes, chains, { sql: r.db.sql, publicUrl, registry: r.registry, engine: r });
  mountApprovalApi(routes, chains, { publicUrl, registry: r.registry, engine: r });
  mountAuditKeys(routes, chains, { keyring: r.keyring });
  mountConsole(routes, chains, {
    db: r.db,
    keyring: r.keyring,
    registry: r.registry,
    servers,
    sessions,
    cookies,
    engine: r,
    producer: r.producer,
    redis: r.redis,
    keys: r.keys,
  });
  mountOpenApi(routes, chains, { publicUrl });
  return { routes, chains, passthrough };
}

/** Outside the error handler, so it counts every answer with its final status: refusals and errors included. */
function countAnswers(metrics: Metrics): Middleware<ApiState> {
  return async (ctx, next) => {
    try {
      await next();
    } finally {
      metrics.httpRequests.inc({ route: (ctx as { _matchedRoute?: string })._matchedRoute ?? 'unmatched', status: String(ctx.status) });
    }
  };
}

/**
 * Drain (docs/operations.md): every answer closes its connection (no new request rides a keep-alive
 * connection), and new requests other than the probes are refused, retryable, before anything is recorded.
 */
function refuseWhileDraining(isDraining: () => boolean, retryAfterS: number): Middleware<ApiState> {
  return async (ctx, next) => {
    if (!isDraining()) return next();
    ctx.set('Connection', 'close');
    if (ctx.path === '/readyz' || ctx.path === '/healthz') return next();
    throw appError('draining', undefined, { details: { retryAfterSeconds: retryAfterS } });
  };
}
