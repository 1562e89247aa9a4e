import type { Tenant } from '@mcprt/db';
import type { RedisKeys } from '@mcprt/redis';
import type { RedisClient } from '@mcprt/redis';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';

/**
 * Per-user per-upstream budgets in the worker: at most
 * `limits.perUserUpstreamPerMinute` calls of one user to one provider with their own credential, so
 * one heavy user cannot spend the tenant's quota at that provider. rate-limiter-flexible on Redis,
 * key `{prefix}:rl-up-<n>:<tenant>:<user>:<provider>` (one slot, expires with its 60 s window). Over
 * budget: the job waits until the window has room (no attempt spent). Only tools with an upstream
 * credential pay this round trip; Redis unreachable: not enforced (the call runs).
 */
export class UpstreamBudgets {
  readonly #limiters = new Map<number, RateLimiterRedis>();

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
  ) {}

  /** Undefined: within budget (or no budget); else how long to wait. */
  async take(tenant: Pick<Tenant, 'id' | 'limits'>, userId: string, provider: string): Promise<number | undefined> {
    const points = tenant.limits.perUserUpstreamPerMinute;
    if (points === undefined) return undefined;
    let l = this.#limiters.get(points);
    if (!l) {
      if (this.#limiters.size > 100) this.#limiters.clear();
      l = new RateLimiterRedis({ storeClient: this.redis, keyPrefix: this.keys.upstreamBudget(points), points, duration: 60 });
      this.#limiters.set(points, l);
    }
    try {
      await l.consume(`${tenant.id}:${userId}:${provider}`);
      return undefined;
    } catch (e) {
      return e instanceof RateLimiterRes ? Math.max(1, e.msBeforeNext) : undefined;
    }
  }
}
