import type { Tenant } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';
import type { Redis } from 'ioredis';
import { LRUCache } from 'lru-cache';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Per-user and per-tenant call rates at the API (issue 9 item 4), with rate-limiter-flexible on
 * Redis: fixed one-minute windows, one counter key per (tenant, user) and one per tenant, under
 * QUEUE_PREFIX (hash-tagged: one slot; each consume is one single-key script, one round trip; the
 * user's and the tenant's run concurrently). Keys expire with their window.
 *
 * Redis unreachable → the call is let through (logged): the call is recorded in Postgres and the
 * reconciler enqueues it later; refusing every call while Redis is away would turn an outage of the
 * limiter into an outage of the service. The pending cap (Postgres) still bounds each user.
 */

export type RateVerdict = { ok: true } | { ok: false; scope: 'user' | 'tenant'; limit: number; retryAfterMs: number };

export function userRatePerMinute(tenant: Pick<Tenant, 'limits'>, userId: string): number {
  return tenant.limits.userOverrides?.[userId]?.perUserRatePerMinute ?? tenant.limits.perUserRatePerMinute;
}

export class CallRateLimits {
  // One limiter per (scope, points): limits differ per tenant and user. Bounded.
  readonly #limiters = new LRUCache<string, RateLimiterRedis>({ max: 1_000 });

  constructor(
    private readonly redis: Redis,
    private readonly prefix: string,
    private readonly log: Logger,
  ) {}

  #limiter(kind: 'user' | 'tenant', points: number): RateLimiterRedis {
    const k = `${kind}:${points}`;
    let l = this.#limiters.get(k);
    if (!l) {
      l = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: `${this.prefix}:rl-${kind}-${points}`,
        points,
        duration: 60,
        rejectIfRedisNotReady: true,
      });
      this.#limiters.set(k, l);
    }
    return l;
  }

  async check(tenant: Pick<Tenant, 'id' | 'limits'>, userId: string): Promise<RateVerdict> {
    const perUser = userRatePerMinute(tenant, userId);
    const perTenant = tenant.limits.tenantRatePerMinute;
    const consume = async (kind: 'user' | 'tenant', points: number, key: string): Promise<RateVerdict> => {
      try {
        await this.#limiter(kind, points).consume(key);
        return { ok: true };
      } catch (e) {
        if (e instanceof RateLimiterRes) return { ok: false, scope: kind, limit: points, retryAfterMs: Math.max(1, e.msBeforeNext) };
        this.log.warn({ err: e }, 'rate limiter unavailable; call let through');
        return { ok: true };
      }
    };
    const [u, t] = await Promise.all([
      consume('user', perUser, `${tenant.id}:${userId}`),
      perTenant !== undefined ? consume('tenant', perTenant, tenant.id) : ({ ok: true } as const),
    ]);
    if (!u.ok) {
      // Refused for the user: the tenant's point it took concurrently is given back (no round trip
      // on the admitted path; a refused call never counts against the tenant).
      if (t.ok && perTenant !== undefined)
        await this.#limiter('tenant', perTenant)
          .reward(tenant.id, 1)
          .catch(() => undefined);
      return u;
    }
    if (!t.ok)
      await this.#limiter('user', perUser)
        .reward(`${tenant.id}:${userId}`, 1)
        .catch(() => undefined);
    return t;
  }
}
