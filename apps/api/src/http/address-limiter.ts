import type { RedisClient } from '@mcprt/redis';
import { RateLimiterMemory, RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import { rateLimitClientKey } from './client-address.js';

/**
 * A fixed window per (tenant, client address) for an unauthenticated route (dynamic client
 * registration, the admin console's sign-in), counted in Redis so every API replica shares it
 * (rate-limiter-flexible, one single-key script per attempt). The address is Koa's `ctx.ip`: the
 * socket's, or under TRUST_PROXY=N the N-th X-Forwarded-For entry from the right — entries a client
 * adds on the left are never read — counted per client (`rateLimitClientKey`: an IPv6 address by its
 * /64, an IPv4-mapped one as IPv4). While Redis is unreachable each replica counts for itself
 * (insurance limiter): still limited, never open. Resolves to the seconds to wait when over the limit.
 */
export interface AddressLimiter {
  /** Counts one attempt; the seconds to wait when this one is over the limit. */
  consume(tenantId: string, ip: string): Promise<number | undefined>;
  /** Counts nothing: the seconds to wait when the window is already spent. */
  spent(tenantId: string, ip: string): Promise<number | undefined>;
}

export function addressLimiter(o: { redis: RedisClient; keyPrefix: string; points: number; windowMs: number }): AddressLimiter {
  const duration = o.windowMs / 1000;
  const limiter = new RateLimiterRedis({
    storeClient: o.redis,
    keyPrefix: o.keyPrefix,
    points: o.points,
    duration,
    rejectIfRedisNotReady: true,
    insuranceLimiter: new RateLimiterMemory({ points: o.points, duration }),
  });
  const key = (tenantId: string, ip: string) => `${tenantId}:${rateLimitClientKey(ip)}`;
  const wait = (r: RateLimiterRes) => Math.max(1, Math.ceil(r.msBeforeNext / 1000));
  return {
    async consume(tenantId, ip) {
      try {
        await limiter.consume(key(tenantId, ip));
        return undefined;
      } catch (e) {
        if (e instanceof RateLimiterRes) return wait(e);
        throw e;
      }
    },
    async spent(tenantId, ip) {
      const r = await limiter.get(key(tenantId, ip));
      return r && r.consumedPoints >= o.points ? wait(r) : undefined;
    },
  };
}
