import type { RedisKeys } from '@mcprt/redis';
import type { Tenant } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { RedisClient } from '@mcprt/redis';
import type { Middleware, ParameterizedContext } from 'koa';
import { addressLimiter } from '../http/address-limiter.js';
import type { TenantLookup } from '../http/resolve-tenant.js';
import type { ApiState } from '../http/state.js';
import { isTenantSlug } from '../http/tenant-cache.js';
import type { AuthServers } from './provider.js';

/** The provider's own endpoints under `/t/{slug}/` (everything else there is ours). */
const PROVIDER_PATH = /^\/t\/([^/]+)(\/(?:auth|token|reg|jwks|session\/end|\.well-known\/openid-configuration)(?:\/[^?]*)?)$/;

/** Dynamic client registrations per (tenant, client address) per minute, across all API replicas (Redis). */
export const REGISTRATIONS_PER_WINDOW = 20;
const REGISTRATION_WINDOW_MS = 60_000;

export interface PassthroughDeps {
  publicUrl: string;
  tenants: TenantLookup;
  servers: Pick<AuthServers, 'get'>;
  /** Where registrations are counted (the key module's registration-limiter prefix). */
  redis: RedisClient;
  keys: Pick<RedisKeys, 'registrationRate'>;
}

/**
 * What the provider (a Koa app of its own, `proxy = true`) reads of the request's address: PUBLIC_URL's
 * host and protocol, and the client address the app decided under TRUST_PROXY. Whatever the client
 * sent in Host or X-Forwarded-* never reaches it, so no URL it publishes (discovery, redirects, the
 * logout form) is built from the request.
 */
export function asProviderRequest(ctx: ParameterizedContext<ApiState>, publicUrl: URL): void {
  const h = ctx.req.headers;
  h.host = publicUrl.host;
  h['x-forwarded-host'] = publicUrl.host;
  h['x-forwarded-proto'] = publicUrl.protocol.slice(0, -1);
  h['x-forwarded-for'] = ctx.ip;
  delete h.forwarded;
}

/** Hand the request to the tenant's oidc-provider, mounted at `/t/{slug}` (no body parser in front). */
export async function toProvider(
  ctx: ParameterizedContext<ApiState>,
  servers: Pick<AuthServers, 'get'>,
  tenant: Tenant,
  providerPath: string,
  publicUrl: URL,
): Promise<void> {
  const server = await servers.get(tenant);
  const search = ctx.querystring ? `?${ctx.querystring}` : '';
  asProviderRequest(ctx, publicUrl);
  // oidc-provider derives its mount path from originalUrl minus url (koa-mount / express convention).
  (ctx.req as { originalUrl?: string }).originalUrl = `/t/${tenant.slug}${providerPath}${search}`;
  ctx.req.url = `${providerPath}${search}`;
  ctx.respond = false;
  await server.callback(ctx.req, ctx.res);
}

/**
 * Everything the provider serves under /t/{slug}/… (authorize, token, registration, keys, logout,
 * discovery), before the router and with no body parser: a built-in tenant's request goes to its
 * provider; anything else goes on to the router. Registration is rate limited per client address.
 */
export function providerPassthrough(d: PassthroughDeps): Middleware<ApiState> {
  const publicUrl = new URL(d.publicUrl);
  // Dynamic registration is unauthenticated: limited per (tenant, client address) across replicas.
  const registrationAllowed = addressLimiter({
    redis: d.redis,
    keyPrefix: d.keys.registrationRate,
    points: REGISTRATIONS_PER_WINDOW,
    windowMs: REGISTRATION_WINDOW_MS,
  });
  return async (ctx, next) => {
    const m = PROVIDER_PATH.exec(ctx.path);
    if (!m || !isTenantSlug(m[1]!)) return next();
    const tenant = await d.tenants.bySlug(m[1]!);
    if (!tenant || tenant.authMode !== 'builtin') return next();
    if (m[2] === '/reg' && ctx.method === 'POST') {
      const retryAfter = await registrationAllowed.consume(tenant.id, ctx.ip);
      if (retryAfter !== undefined)
        throw appError('rate_limited', `at most ${REGISTRATIONS_PER_WINDOW} client registrations a minute from one address`, {
          details: { retryAfterSeconds: retryAfter },
        });
    }
    await toProvider(ctx, d.servers, tenant, m[2]!, publicUrl);
  };
}
