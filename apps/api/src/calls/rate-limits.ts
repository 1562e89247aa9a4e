import type { Tenant } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';
import type { RedisKeys } from '@mcprt/redis';
import type { RedisClient } from '@mcprt/redis';
import { LRUCache } from 'lru-cache';
import { RateLimiterRedis, RateLimiterRes } from 'rate-limiter-flexible';
import type { RateVerdict } from '@mcprt/calls';

/**
 * Per-user and per-tenant call rates at the API, with rate-limiter-flexible on
 * Redis: fixed one-minute windows, one counter key per (tenant, user) and one per tenant, under
 * QUEUE_PREFIX (hash-tagged: one slot; each consume is one single-key script, one round trip; the
 * user's and the tenant's run concurrently). Keys expire with their window.
 *
 * Redis unreachable → the call is let through (logged): the call is recorded in Postgres and the
 * reconciler enqueues it later; refusing every call while Redis is away would turn an outage of the
 * limiter into an outage of the service. The pending cap (Postgres) still bounds each user.
 */

const ALLOWED: RateVerdict = Object.freeze({ ok: true });

function userRatePerMinute(tenant: Pick<Tenant, 'limits'>, userId: string): number {
  return tenant.limits.userOverrides?.[userId]?.perUserRatePerMinute ?? tenant.limits.perUserRatePerMinute;
}

export class CallRateLimits {
  // One limiter per (scope, points): limits differ per tenant and user. Bounded.
  readonly #limiters = new LRUCache<string, RateLimiterRedis>({ max: 1_000 });
  /** Points taken from Redis in a batch and not spent yet, per key, until their window ends. Bounded. */
  readonly #local = new LRUCache<string, { until: number; left: number }>({ max: 10_000 });

  constructor(
    private readonly redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly log: Logger,
  ) {}

  #limiter(kind: 'user' | 'tenant', points: number): RateLimiterRedis {
    const k = `${kind}:${points}`;
    let l = this.#limiters.get(k);
    if (!l) {
      l = new RateLimiterRedis({
        storeClient: this.redis,
        keyPrefix: this.keys.callRate(kind, points),
        points,
        duration: 60,
        rejectIfRedisNotReady: true,
      });
      this.#limiters.set(k, l);
    }
    return l;
  }

  /**
   * One point for `key`. Large limits are taken from Redis in batches of 1 % of the limit and spent
   * locally until the window ends (one round trip per batch instead of per call); a batch that does
   * not fit any more is given back and a single point taken. This never admits more than the limit
   * (the batch is counted in Redis first); it can admit less, by at most one unspent batch per API
   * replica per window. Limits under 200 a minute take single points: exact.
   */
  async #take(kind: 'user' | 'tenant', points: number, key: string): Promise<{ verdict: RateVerdict; giveBack: () => Promise<void> }> {
    const limiter = this.#limiter(kind, points);
    const localKey = `${kind}:${points}:${key}`;
    const now = Date.now();
    const local = this.#local.get(localKey);
    if (local && local.until > now && local.left > 0) {
      local.left--;
      return { verdict: { ok: true }, giveBack: async () => void local.left++ };
    }
    const batch = Math.max(1, Math.floor(points / 100));
    const giveBack = () => limiter.reward(key, 1).then(() => undefined);
    try {
      const res = await limiter.consume(key, batch);
      if (batch > 1) {
        // Concurrent misses of one key each take a batch: add up what is left, never overwrite it.
        const cur = this.#local.get(localKey);
        if (cur && cur.until > now) cur.left += batch - 1;
        else this.#local.set(localKey, { until: now + res.msBeforeNext, left: batch - 1 });
      }
      return { verdict: { ok: true }, giveBack };
    } catch (e) {
      if (!(e instanceof RateLimiterRes)) {
        this.log.warn({ err: e }, 'rate limiter unavailable; call let through');
        return { verdict: { ok: true }, giveBack: async () => undefined };
      }
      let refusal = e;
      if (batch > 1) {
        // A failed consume still counts in Redis: give the batch back, then try a single point.
        await limiter.reward(key, batch).catch(() => undefined);
        try {
          await limiter.consume(key, 1);
          return { verdict: { ok: true }, giveBack };
        } catch (e2) {
          if (!(e2 instanceof RateLimiterRes)) return { verdict: { ok: true }, giveBack: async () => undefined };
          refusal = e2;
        }
      }
      return { verdict: { ok: false, scope: kind, limit: points, retryAfterMs: Math.max(1, refusal.msBeforeNext) }, giveBack: async () => undefined };
    }
  }

  /** One point of a batch this process holds for `localKey` in the current window, if any is left. */
  #spendLocal(localKey: string, now: number): { left: number } | undefined {
    const local = this.#local.get(localKey);
    if (!local || local.until <= now || local.left <= 0) return undefined;
    local.left--;
    return local;
  }

  async check(tenant: Pick<Tenant, 'id' | 'limits'>, userId: string): Promise<RateVerdict> {
    const perUser = userRatePerMinute(tenant, userId);
    const perTenant = tenant.limits.tenantRatePerMinute;
    // The steady state of a large limit: both points come from batches this process already holds
    // (no Redis, no limiter lookup, no promise per counter). Anything else takes the path below.
    const now = Date.now();
    const mine = this.#spendLocal(`user:${perUser}:${tenant.id}:${userId}`, now);
    if (mine) {
      if (perTenant === undefined || this.#spendLocal(`tenant:${perTenant}:${tenant.id}`, now)) return ALLOWED;
      mine.left++; // the tenant's point is not here: give the user's back and take both below
    }
    const none = { verdict: { ok: true } as RateVerdict, giveBack: async () => undefined };
    const [u, t] = await Promise.all([
      this.#take('user', perUser, `${tenant.id}:${userId}`),
      perTenant !== undefined ? this.#take('tenant', perTenant, tenant.id) : none,
    ]);
    // A refusal by one gives back the point the other took concurrently: a refused call counts nowhere.
    if (!u.verdict.ok) {
      if (t.verdict.ok) await t.giveBack().catch(() => undefined);
      return u.verdict;
    }
    if (!t.verdict.ok) await u.giveBack().catch(() => undefined);
    return t.verdict;
  }
}
