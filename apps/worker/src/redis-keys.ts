/**
 * Every Redis key the worker adds beyond BullMQ's own, in one place (docs/architecture.md, "Redis
 * keys"). All live under QUEUE_PREFIX, which carries a Cluster hash tag (`{mcprt}` by default), so
 * every key of the runtime hashes to one slot and every script touches one slot.
 */
export const redisKeys = (prefix: string) => ({
  /** Refresh single flight of one credential: the holder's random token, PX = REFRESH_LOCK_MS. */
  refreshLock: (credentialId: string) => `${prefix}:cred-refresh:${credentialId}`,
  /** Concurrency leases of one user: ZSET job id → lease expiry (ms), key PEXPIREd with the longest lease. */
  leases: (tenantId: string, userId: string) => `${prefix}:lease:${tenantId}:${userId}`,
  /** Jobs of one user waiting for a lease (LIST of job ids), woken on release; PEXPIREd like the leases. */
  leaseWaiters: (tenantId: string, userId: string) => `${prefix}:lease-wait:${tenantId}:${userId}`,
  /** Upstream pause of one user at one provider after a 429 (value: resume time, ms), PX = Retry-After. */
  upstreamPause: (tenantId: string, userId: string, provider: string) => `${prefix}:up-pause:${tenantId}:${userId}:${provider}`,
});

export type RedisKeys = ReturnType<typeof redisKeys>;
