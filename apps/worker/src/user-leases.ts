import type { Tenant } from '@mcprt/db';
import type { RedisClient, RedisKeys } from '@mcprt/redis';

/**
 * Hard per-user concurrency across all workers: a lease per running call in one
 * ZSET per user (member = job id + fencing number, score = lease expiry in Redis time). Acquire,
 * renew and release are single scripts over that user's two keys, which share the prefix's hash
 * tag (one slot). A crashed worker's lease lapses by itself after `leaseMs`; a live one renews it
 * every `leaseMs / 3` while its tool runs. A job that finds no free slot registers as a waiter and
 * is delayed (BullMQ moveToDelayed: no attempt spent); the release that frees a slot pops the
 * first waiter so the worker can promote it at once, and a waiter that missed its wake-up is back
 * after `WAIT_RECHECK_MS` — at most two checks a second per waiting job, never a spin.
 */

// KEYS[1] leases ZSET, KEYS[2] waiters LIST, KEYS[3] the user's pause at the tool's provider (429);
// ARGV: member, limit, leaseMs, jobId. Returns -1 when the lease is held, -2 - ms while the user is
// paused at that provider, else the ms until the earliest lease lapses.
const ACQUIRE = `
local paused = redis.call('PTTL', KEYS[3])
if paused > 0 then return -2 - paused end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lease = tonumber(ARGV[3])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + lease, ARGV[1])
  redis.call('PEXPIRE', KEYS[1], lease)
  return -1
end
redis.call('LREM', KEYS[2], 0, ARGV[4])
redis.call('RPUSH', KEYS[2], ARGV[4])
redis.call('PEXPIRE', KEYS[2], lease * 2)
local first = redis.call('ZRANGE', KEYS[1], 0, 0, 'WITHSCORES')
return math.max(0, tonumber(first[2]) - now)
`;

// KEYS[1] leases; ARGV: member, leaseMs. 1 if still held (renewed), 0 if it had lapsed.
const RENEW = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local s = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not s or tonumber(s) <= now then return 0 end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
`;

// KEYS[1] leases, KEYS[2] waiters; ARGV: member. Returns the first waiting job id, if any.
const RELEASE = `
redis.call('ZREM', KEYS[1], ARGV[1])
return redis.call('LPOP', KEYS[2])
`;

/** How long a waiting job sleeps at most before it checks again (if its wake-up was missed). */
const WAIT_RECHECK_MS = 500;

type LeaseRedis = RedisClient & {
  mcprtLeaseAcquire(k1: string, k2: string, k3: string, member: string, limit: number, leaseMs: number, jobId: string): Promise<number>;
  mcprtLeaseRenew(k1: string, member: string, leaseMs: number): Promise<number>;
  mcprtLeaseRelease(k1: string, k2: string, member: string): Promise<string | null>;
};

export interface HeldLease {
  /** Stop renewing and free the slot; resolves with a waiting job id to wake, if any. */
  release(): Promise<string | null>;
}

/** The user's limit: the tenant's `perUserConcurrency`, or the user's override in `limits.userOverrides`. */
export function userConcurrency(tenant: Pick<Tenant, 'limits'>, userId: string): number {
  const o = tenant.limits.userOverrides?.[userId]?.perUserConcurrency;
  return Math.max(1, o ?? tenant.limits.perUserConcurrency);
}

export class UserLeases {
  readonly #redis: LeaseRedis;

  constructor(
    redis: RedisClient,
    private readonly keys: RedisKeys,
    private readonly leaseMs: number,
  ) {
    this.#redis = redis as LeaseRedis;
    if (!('mcprtLeaseAcquire' in redis)) {
      redis.defineCommand('mcprtLeaseAcquire', { numberOfKeys: 3, lua: ACQUIRE });
      redis.defineCommand('mcprtLeaseRenew', { numberOfKeys: 1, lua: RENEW });
      redis.defineCommand('mcprtLeaseRelease', { numberOfKeys: 2, lua: RELEASE });
    }
  }

  /**
   * Take one of the user's `limit` slots for this run (`member` = job id + fencing number, so a
   * stale run of the same job never shares a newer run's lease). `{ waitMs }` when none is free.
   */
  async acquire(
    tenantId: string,
    userId: string,
    provider: string,
    jobId: string,
    member: string,
    limit: number,
  ): Promise<HeldLease | { waitMs: number; paused?: true }> {
    const k = this.keys.leases(tenantId, userId);
    const w = this.keys.leaseWaiters(tenantId, userId);
    const r = await this.#redis.mcprtLeaseAcquire(k, w, this.keys.upstreamPause(tenantId, userId, provider), member, limit, this.leaseMs, jobId);
    if (r <= -2) return { waitMs: -2 - r, paused: true };
    if (r >= 0) return { waitMs: Math.min(r, WAIT_RECHECK_MS) };
    // Renewed only while a run lasts long enough to need it (a quick call costs no timer work in Redis).
    const timer = setInterval(
      () => {
        this.#redis.mcprtLeaseRenew(k, member, this.leaseMs).catch(() => undefined);
      },
      Math.max(100, Math.floor(this.leaseMs / 3)),
    );
    timer.unref();
    return {
      release: () => {
        clearInterval(timer);
        return this.#redis.mcprtLeaseRelease(k, w, member);
      },
    };
  }
}

/** The upstream a tool's calls are paused at on a 429: its credential's provider, else the tool itself (an operator-keyed API). */
export const pausedUpstreamOf = (tool: string, registryTool?: { upstream?: { provider: string } | undefined }) => registryTool?.upstream?.provider ?? tool;

/**
 * An upstream 429 for this user at this provider: the user's calls of that provider wait `ms` (the
 * acquire script sees the key), other users and other providers are untouched.
 */
export async function pauseUpstream(redis: RedisClient, keys: RedisKeys, tenantId: string, userId: string, provider: string, ms: number): Promise<void> {
  await redis.set(keys.upstreamPause(tenantId, userId, provider), '1', 'PX', Math.max(1, Math.round(ms)));
}
