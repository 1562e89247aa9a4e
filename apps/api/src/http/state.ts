import type { VerifiedToken } from '@mcprt/identity';
import type { Tenant, User } from '@mcprt/db';
import type { TenantScope } from '@mcprt/calls';
import type { Logger } from '@mcprt/observability';
import type { ParameterizedContext } from 'koa';

/** What middlewares put on `ctx.state`, in the order they run. */
export interface ApiState {
  requestId: string;
  /** The request's logger, bound to everything `bindLog` added so far (built on first use). */
  log: Logger;
  tenant?: Tenant;
  scope?: TenantScope;
  token?: VerifiedToken;
  user?: User;
  /** A tenant back-office API key that authenticated this request (http/api-key-auth.ts). */
  apiKey?: { id: string; scopes: string[] };
  /** The admin console's operator: the API key that signed in (and its scopes, read on this request), and the session's CSRF token (admin/session.ts). */
  operator?: { keyId: string; csrf: string; scopes: readonly string[] };
  /** How an error of this request is answered: JSON unless its route's chain is a browser page's. */
  errorFormat?: 'json' | 'html';
}

export type ApiContext = ParameterizedContext<ApiState, Record<string, unknown>, unknown>;

/** Read a value a previous middleware must have set; a missing one is a wiring bug, not a client error. */
export function required<K extends keyof ApiState>(ctx: { state: ApiState }, key: K): NonNullable<ApiState[K]> {
  const v = ctx.state[key];
  if (v === undefined || v === null) throw new Error(`middleware order: ctx.state.${String(key)} missing`);
  return v as NonNullable<ApiState[K]>;
}

/**
 * Give the request's logger a lazily built child: bindings accumulate as middlewares learn the
 * tenant and user, and the pino child is created only if something logs (most requests log once).
 */
export function installRequestLog(state: ApiState, root: Logger, bindings: Record<string, unknown>): void {
  const all = { ...bindings };
  let built: Logger | undefined;
  Object.defineProperty(state, 'log', {
    configurable: true,
    enumerable: true,
    get: () => (built ??= root.child(all)),
  });
  (state as ApiState & { [BIND]?: (b: Record<string, unknown>) => void })[BIND] = (b) => {
    Object.assign(all, b);
    built = undefined;
  };
}

const BIND = Symbol('bindLog');

export function bindLog(state: ApiState, bindings: Record<string, unknown>): void {
  (state as ApiState & { [BIND]?: (b: Record<string, unknown>) => void })[BIND]?.(bindings);
}
