import type { VerifiedToken } from '@mcprt/identity';
import type { Tenant, User } from '@mcprt/db';
import type { TenantScope } from '@mcprt/calls';
import type { Logger } from '@mcprt/observability';
import type { ParameterizedContext } from 'koa';

/** What middlewares put on `ctx.state`, in the order they run. */
export interface ApiState {
  readonly requestId: string;
  /** The request's logger, bound to everything `bindLog` added so far (built on first use). */
  readonly log: Logger;
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
 * `ctx.state` of every request (the outermost middleware puts it there): the request id, and the
 * request's logger as a lazily built child, whose bindings accumulate as middlewares learn the
 * tenant and user (`bindLog`); the pino child is created only if something logs.
 *
 * A class, with `log` a getter on its prototype, and never a getter defined on each request's
 * object: V8 keeps an own accessor's getter/setter pair in the old generation, so a getter that is a
 * closure made for one object keeps all it reaches alive through every young-generation collection
 * until the next full one, the object long dead. A per-request accessor made each request's
 * objects survive and be promoted, and the API's scavenges took milliseconds
 * (docs/architecture.md, "Per-request accessors").
 */
export class RequestState implements ApiState {
  readonly requestId: string;
  tenant?: Tenant;
  scope?: TenantScope;
  token?: VerifiedToken;
  user?: User;
  apiKey?: ApiState['apiKey'];
  operator?: ApiState['operator'];
  errorFormat?: ApiState['errorFormat'];
  readonly #root: Logger;
  readonly #bindings: Record<string, unknown>;
  #built: Logger | undefined;

  constructor(requestId: string, root: Logger, bindings: Record<string, unknown>) {
    this.requestId = requestId;
    this.#root = root;
    this.#bindings = { ...bindings };
  }

  get log(): Logger {
    return (this.#built ??= this.#root.child(this.#bindings));
  }

  /** Add bindings to the request's logger (the next log line carries them). */
  bind(bindings: Record<string, unknown>): void {
    Object.assign(this.#bindings, bindings);
    this.#built = undefined;
  }
}

export function bindLog(state: ApiState, bindings: Record<string, unknown>): void {
  if (state instanceof RequestState) state.bind(bindings);
}
