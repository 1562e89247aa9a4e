import type { SealContext } from '@mcprt/keyring';
import { open, seal } from '@mcprt/keyring';
import type { UpstreamLoginStart } from '@mcprt/providers';
import type { ParameterizedContext } from 'koa';
import type { z } from 'zod';
import type { ApiState } from '../http/state.js';
import type { ApiResources } from '../resources.js';

export { UpstreamLogin, type UpstreamIdentity, type UpstreamLoginStart } from '@mcprt/providers';

/** How long a browser has to come back from the provider (or from a sign-in) before its cookie lapses. */
export const FLOW_TTL_MS = 600_000;

/**
 * A browser flow's cookie: sealed to `context` (so only the tenant, user and purpose it was made for
 * open it), signed, http-only, same-site lax (the provider's redirect back is a top-level GET), and
 * only sent to `path`.
 */
export interface FlowCookie {
  name: string;
  path: string;
  context: SealContext;
}

const secure = (r: ApiResources) => r.config.PUBLIC_URL.startsWith('https://');

/** Store `value` in the flow cookie `c` for FLOW_TTL_MS. */
export function setFlowCookie(ctx: ParameterizedContext<ApiState>, r: ApiResources, c: FlowCookie, value: unknown): void {
  ctx.cookies.set(c.name, seal(r.keyring, JSON.stringify(value), c.context), {
    path: c.path,
    httpOnly: true,
    sameSite: 'lax',
    signed: true,
    secure: secure(r),
    maxAge: FLOW_TTL_MS,
  });
}

/** The flow cookie's value: `present` false when the browser sent none; `value` undefined when it does not open or parse. */
export function readFlowCookie<T>(
  ctx: ParameterizedContext<ApiState>,
  r: ApiResources,
  c: FlowCookie,
  schema: z.ZodType<T>,
): { present: boolean; value: T | undefined } {
  const sealed = ctx.cookies.get(c.name, { signed: true });
  if (!sealed) return { present: false, value: undefined };
  try {
    return { present: true, value: schema.parse(JSON.parse(open(r.keyring, sealed, c.context))) };
  } catch {
    return { present: true, value: undefined };
  }
}

export const clearFlowCookie = (ctx: ParameterizedContext<ApiState>, c: Pick<FlowCookie, 'name' | 'path'>): void => {
  ctx.cookies.set(c.name, null, { path: c.path });
};

/** What a flow cookie keeps of the provider redirect (the rest comes back in the callback). */
export const startFacts = (s: UpstreamLoginStart) => ({ state: s.state, nonce: s.nonce, codeVerifier: s.codeVerifier });

/** Send the browser to the provider (303: the next request is a GET whatever this one was). */
export function toProvider(ctx: ParameterizedContext<ApiState>, s: UpstreamLoginStart): void {
  ctx.status = 303;
  ctx.redirect(s.url);
}
