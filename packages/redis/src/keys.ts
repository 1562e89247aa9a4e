/**
 * Every Redis key and channel of the runtime, in one place. All live under QUEUE_PREFIX, which
 * carries a Redis Cluster hash tag (`{mcprt}` by default): every key hashes to the slot of the queue's
 * own keys, so every script and every multi-key command touches one slot.
 */
export function redisKeys(prefix: string) {
  return {
    /**
     * BullMQ's prefix: the queue builds its own keys as `<prefix>:<queue name>:<suffix>` (wait list,
     * jobs, locks, events), so they share the hash tag.
     */
    queuePrefix: prefix,
    /** Refresh single flight of one credential: the holder's random token, PX = the refresh lock's lifetime. */
    refreshLock: (credentialId: string) => `${prefix}:cred-refresh:${credentialId}`,
    /** Concurrency leases of one user: ZSET job id → lease expiry (ms), key PEXPIREd with the longest lease. */
    leases: (tenantId: string, userId: string) => `${prefix}:lease:${tenantId}:${userId}`,
    /** Jobs of one user waiting for a lease (LIST of job ids), woken on release; PEXPIREd like the leases. */
    leaseWaiters: (tenantId: string, userId: string) => `${prefix}:lease-wait:${tenantId}:${userId}`,
    /** Upstream pause of one user at one provider after a 429 (value: resume time, ms), PX = Retry-After. */
    upstreamPause: (tenantId: string, userId: string, provider: string) => `${prefix}:up-pause:${tenantId}:${userId}:${provider}`,
    /**
     * rate-limiter-flexible key prefixes (the limiter appends `:<key>`): the API's per-user and
     * per-tenant call rates (one limiter per limit), the worker's per-user upstream budget, and the
     * built-in authorization server's dynamic registration window, and the admin console's sign-in window.
     */
    callRate: (scope: 'user' | 'tenant', perMinute: number) => `${prefix}:rl-${scope}-${perMinute}`,
    upstreamBudget: (perMinute: number) => `${prefix}:rl-up-${perMinute}`,
    registrationRate: `${prefix}:rl-dcr`,
    consoleSignInRate: `${prefix}:rl-console-sign-in`,
    /** Whether a 2025-era MCP client declared URL elicitation at `initialize` ('1' / '0'), per (tenant, user, OAuth client). */
    /** The log level a 2025-era MCP client set with `logging/setLevel`, per (tenant, user, OAuth client). */
    clientLogLevel: (tenantId: string, userId: string, clientId: string | undefined) => `${prefix}:mcp-log-level:${tenantId}:${userId}:${clientId ?? '-'}`,
    urlElicitation: (tenantId: string, userId: string, clientId: string | undefined) =>
      `${prefix}:mcp-url-elicitation:${tenantId}:${userId}:${clientId ?? '-'}`,
    /** An operator's admin-console session (apps/api/src/admin/session.ts): JSON, PX = the session's lifetime. */
    operatorSession: (sessionHash: string) => `${prefix}:op-session:${sessionHash}`,
    /**
     * A redeemed ID-JAG (enterprise-managed authorization): SET NX, PX = until the assertion's `exp`,
     * so each one is redeemed once. `digest` = SHA-256 of (issuer, jti), so no IdP value is a key.
     */
    idJagRedeemed: (tenantId: string, digest: string) => `${prefix}:idjag-jti:${tenantId}:${digest}`,
    /** The pub/sub channel cancels are announced on (every worker process subscribes once). */
    cancelChannel: `${prefix}:call-cancel`,
    /** 2025 clients' answers to the API's input requests, for the API replica whose tools/call waits (apps/api mcp/replica-relay.ts). */
    inputAnswerChannel: `${prefix}:mcp-input-answers`,
    /** 2025 clients' `notifications/cancelled`, for the API replica whose tools/call waits (apps/api mcp/tools-call.ts). */
    legacyCancelChannel: `${prefix}:mcp-legacy-cancels`,
  };
}

export type RedisKeys = ReturnType<typeof redisKeys>;

/**
 * The part of a key Redis Cluster hashes: the text between the first `{` and the next `}` when it is
 * not empty, else the whole key.
 */
export function hashTagOf(key: string): string {
  const open = key.indexOf('{');
  if (open < 0) return key;
  const close = key.indexOf('}', open + 1);
  return close > open + 1 ? key.slice(open + 1, close) : key;
}
