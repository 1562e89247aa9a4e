import Router, { type RouterMiddleware } from '@koa/router';
import type { DbHandle } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { ApiKeyScope } from '@mcprt/policy';
import type { Middleware } from 'koa';
import { operatorAuth, type OperatorAuthDeps } from '../admin/session.js';
import { pageCsp } from '../auth-server/pages.js';
import { apiKeyAuth } from './api-key-auth.js';
import { bearerAuth, type BearerDeps } from './bearer-auth.js';
import { originCheck } from './origin-check.js';
import { resolveTenant, type TenantLookup } from './resolve-tenant.js';
import { required, type ApiState } from './state.js';

export type Handler = RouterMiddleware<ApiState>;

/** A named, ordered list of middlewares a route runs before its handler. */
export interface Chain {
  readonly name: string;
  readonly use: readonly Middleware<ApiState>[];
}

export interface MountedRoute {
  method: 'get' | 'post' | 'delete' | 'options';
  path: string;
  chain: string;
}

export interface ChainDeps {
  tenants: TenantLookup;
  db: DbHandle;
  bearer: BearerDeps;
  allowedOrigins: readonly string[];
  /** The admin console's sessions (admin/session.ts). */
  operators: OperatorAuthDeps;
}

/**
 * The middleware chains, declared once; every route picks one (`Routes`):
 * - `open`: no tenant (probes, the OpenAPI document, CORS preflights, the MCP endpoint's 405s);
 * - `tenant`: the tenant, anonymous (public documents of a tenant);
 * - `builtinTenant`: a tenant that is its own authorization server, anonymous (its metadata);
 * - `bearer`: the tenant's end user, by their MCP access token;
 * - `bearerWrite`: the same, for requests that act, with a browser's `Origin` checked first;
 * - `apiKey(scope, route)`: a tenant API key holding `scope` (the back office), audited as `route`;
 * - `page`: a browser page of a built-in tenant: errors answered as HTML, no-store and security
 *   headers, the strict page CSP (a page may widen its form targets);
 * - `console`: a page of the tenant's admin console before sign-in (its sign-in form), any auth mode;
 * - `operator`: a page or form of the admin console: the same page rules, and a live operator session
 *   of this tenant whose API key still holds `admin` (admin/session.ts); forms check its CSRF token.
 */
export function declareChains(d: ChainDeps) {
  const tenant = resolveTenant(d.tenants, d.db.db);
  const bearer = bearerAuth(d.bearer);
  const origin = originCheck(d.bearer.publicUrl, d.allowedOrigins);
  const chain = (name: string, ...use: Middleware<ApiState>[]): Chain => ({ name, use });
  return {
    open: chain('open'),
    tenant: chain('tenant', tenant),
    builtinTenant: chain('builtin-tenant', tenant, builtinOnly),
    bearer: chain('bearer', tenant, bearer),
    bearerWrite: chain('bearer-write', origin, tenant, bearer),
    apiKey: (scope: ApiKeyScope, route: string) => chain('api-key', tenant, apiKeyAuth(d.db, scope, route)),
    page: chain('page', answerAsPage, tenant, builtinOnly, pageHeaders),
    console: chain('console', answerAsPage, tenant, pageHeaders),
    operator: chain('operator', answerAsPage, tenant, pageHeaders, operatorAuth(d.operators)),
  };
}

export type Chains = ReturnType<typeof declareChains>;

/** Errors of this request are answered as an HTML page (the error handler renders them). */
export const answerAsPage: Middleware<ApiState> = (ctx, next) => {
  ctx.state.errorFormat = 'html';
  return next();
};

/** Only a tenant that is its own authorization server has these routes; any other answers as if they did not exist. */
const builtinOnly: Middleware<ApiState> = (ctx, next) => {
  if (required(ctx, 'tenant').authMode !== 'builtin') throw appError('not_found');
  return next();
};

const pageHeaders: Middleware<ApiState> = (ctx, next) => {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('X-Frame-Options', 'DENY');
  ctx.set('Referrer-Policy', 'no-referrer');
  ctx.set('X-Content-Type-Options', 'nosniff');
  ctx.set('Content-Security-Policy', pageCsp());
  return next();
};

/** The API's one router: each route is added with a declared chain, and the table of what is mounted is kept. */
export class Routes {
  readonly router = new Router<ApiState>();
  readonly #mounted: MountedRoute[] = [];

  get mounted(): readonly MountedRoute[] {
    return this.#mounted;
  }

  get(path: string, chain: Chain, ...handlers: Handler[]): void {
    this.#add('get', path, chain, handlers);
  }

  post(path: string, chain: Chain, ...handlers: Handler[]): void {
    this.#add('post', path, chain, handlers);
  }

  delete(path: string, chain: Chain, ...handlers: Handler[]): void {
    this.#add('delete', path, chain, handlers);
  }

  options(path: string, chain: Chain, ...handlers: Handler[]): void {
    this.#add('options', path, chain, handlers);
  }

  #add(method: MountedRoute['method'], path: string, chain: Chain, handlers: Handler[]): void {
    this.#mounted.push({ method, path, chain: chain.name });
    this.router[method](path, ...(chain.use as readonly Handler[]), ...handlers);
  }
}
