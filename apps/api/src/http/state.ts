import type { VerifiedToken } from '@mcprt/auth';
import type { Tenant, TenantScope, User } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';
import type { ParameterizedContext } from 'koa';

/** What middlewares put on `ctx.state`, in the order they run. */
export interface ApiState {
  requestId: string;
  log: Logger;
  tenant?: Tenant;
  scope?: TenantScope;
  token?: VerifiedToken;
  user?: User;
}

export type ApiContext = ParameterizedContext<ApiState, Record<string, unknown>, unknown>;

/** Read a value a previous middleware must have set; a missing one is a wiring bug, not a client error. */
export function required<K extends keyof ApiState>(ctx: { state: ApiState }, key: K): NonNullable<ApiState[K]> {
  const v = ctx.state[key];
  if (v === undefined || v === null) throw new Error(`middleware order: ctx.state.${String(key)} missing`);
  return v as NonNullable<ApiState[K]>;
}
