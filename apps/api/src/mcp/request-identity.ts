import type { ApiState } from '../http/state.js';
import type { McpOperation } from './operation.js';

/** The verified identity of one MCP request, as the route hands it to the request's own server. */
export type RequestIdentity = Required<Pick<ApiState, 'tenant' | 'scope' | 'token' | 'user' | 'requestId' | 'log'>> & {
  /** Told when a handler answered "temporarily unavailable", so the route can make it an HTTP 503 with Retry-After. */
  onUnavailable?: () => void;
  /** Told what the answer was (a tool error, a JSON-RPC error), for the request's span and duration metric (operation.ts). */
  operation?: McpOperation;
};
