import { required, type ApiState } from '../http/state.js';
import type { McpOperation } from './operation.js';

/** The verified identity of one MCP request, as the route hands it to the request's own server. */
export type RequestIdentity = Required<Pick<ApiState, 'tenant' | 'scope' | 'token' | 'user' | 'requestId' | 'log'>> & {
  /** Told when a handler answered "temporarily unavailable", so the route can make it an HTTP 503 with Retry-After. */
  onUnavailable?: () => void;
  /** Told what the answer was (a tool error, a JSON-RPC error), for the request's span and duration metric (operation.ts). */
  operation?: McpOperation;
};

/**
 * The identity of an MCP request, read from its verified `ctx.state`. A class: `log` stays lazy (the
 * request's logger is built only if something logs) as a getter on the prototype, never as a getter
 * in a per-request object literal, whose closure V8 then holds from the old generation, keeping the
 * request's objects alive through young-generation collections (http/state.ts, `RequestState`).
 */
export class McpRequestIdentity implements RequestIdentity {
  readonly tenant: RequestIdentity['tenant'];
  readonly scope: RequestIdentity['scope'];
  readonly token: RequestIdentity['token'];
  readonly user: RequestIdentity['user'];
  readonly requestId: string;
  readonly #state: ApiState;

  constructor(
    state: ApiState,
    readonly operation: McpOperation,
    readonly onUnavailable: () => void,
  ) {
    this.#state = state;
    this.tenant = required({ state }, 'tenant');
    this.scope = required({ state }, 'scope');
    this.token = required({ state }, 'token');
    this.user = required({ state }, 'user');
    this.requestId = state.requestId;
  }

  get log(): ApiState['log'] {
    return this.#state.log;
  }
}
