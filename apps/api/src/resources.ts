import { withCallStatements, type CallsDb } from '@mcprt/calls';
import { createOutbound, VerifiedTokenCache, type IssuerDirectory } from '@mcprt/identity';
import { egressAllowsPrivate, type Config } from '@mcprt/config';
import { parseKeyring, type Keyring } from '@mcprt/keyring';
import { createDb } from '@mcprt/db';
import { createLogger, createMetrics, type Logger, type Metrics } from '@mcprt/observability';
import { coalesceWrites, CompletionWaiter, createProducer, type Producer } from '@mcprt/calls';
import { createToolRegistry, type ToolRegistry } from '@mcprt/tools';
import { egressFetch } from '@mcprt/egress';
import { Redis } from 'ioredis';
import { AuthServers } from './auth-server/provider.js';
import { UpstreamLogin } from './auth-server/upstream.js';
import { CallRateLimits } from './calls/rate-limits.js';
import { OutageLog } from './http/outage.js';
import { TenantCache } from './http/tenant-cache.js';
import { UserCache } from './http/user-cache.js';

/** Everything the API's handlers use, passed in (STYLE.md §2), built once per process. */
export interface ApiResources {
  config: Config;
  db: CallsDb;
  redis: Redis;
  producer: Producer;
  waiter: CompletionWaiter;
  directory: IssuerDirectory;
  verified: VerifiedTokenCache;
  registry: ToolRegistry;
  /** Seals a call's sensitive arguments for the worker and keys the idempotency request hash; the API never opens user tokens with it. */
  keyring: Keyring;
  tenants: TenantCache;
  users: UserCache;
  /** Built-in tenants' OAuth authorization servers and their federated login (issue 8). */
  authServers: AuthServers;
  upstreamLogin: UpstreamLogin;
  /** Per-user and per-tenant call rates (calls/rate-limits.ts). */
  rates: CallRateLimits;
  log: Logger;
  metrics: Metrics;
  /** Postgres / Redis outages: logged once each, probed until they end (http/outage.ts). */
  outages: OutageLog;
  /** Aborted when the API drains: waits for recorded calls end and answer with the call id (server.ts). */
  drain?: AbortSignal;
  close(): Promise<void>;
}

export function createApiResources(config: Config, overrides: { log?: Logger } = {}): ApiResources {
  const log = overrides.log ?? createLogger({ name: 'api', level: config.LOG_LEVEL });
  const db = withCallStatements(
    createDb(config.DATABASE_URL, {
      max: config.DATABASE_POOL_MAX,
      applicationName: 'mcprt-api',
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    }),
  );
  // Producer connection: fail fast when Redis is away (the call is already recorded; the reconciler
  // enqueues it later) instead of buffering commands in memory.
  // The adds of one group commit (and any other commands of one loop turn) leave in one write: coalesce-writes.ts.
  const redis = coalesceWrites(new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false }));
  redis.on('error', (err) => log.warn({ err }, 'redis connection error'));
  const producer = createProducer({
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    timeoutMs: config.ENQUEUE_TIMEOUT_MS,
  });
  const waiter = new CompletionWaiter((ring) => db.calls.onCallDone(ring));
  // One egress for every outbound request (tools, discovery, JWKS). Production refuses private
  // addresses; development and test doubles live on 127.0.0.1 (EGRESS_ALLOW_PRIVATE overrides).
  const { egress, directory } = createOutbound({ ...config, allowPrivate: egressAllowsPrivate(config) }, log);
  const registry = createToolRegistry({ includeTestTools: config.ENABLE_TEST_TOOLS });
  const keyring = parseKeyring(config.SEAL_KEYS, config.SEAL_ACTIVE_KID);
  // Client ID Metadata Documents and the tenant IdP's discovery/token endpoint: the same egress rules.
  // A document never comes from another origin than its URL's: a redirect leaving it is refused (and
  // oidc-provider asks for `redirect: manual`, so it refuses any redirect itself).
  const asFetch = egressFetch(egress, 'the authorization server', { timeoutMs: 5_000, maxBodyBytes: 64 * 1024, sameOriginRedirectsOnly: true });
  const authServers = new AuthServers({ publicUrl: config.PUBLIC_URL, db: db.db, keyring, registry, log, fetch: asFetch });
  const upstreamLogin = new UpstreamLogin({
    keyring,
    fetch: egressFetch(egress, "the tenant's identity provider", { timeoutMs: 10_000, maxBodyBytes: 512 * 1024 }),
    allowInsecure: config.ALLOW_INSECURE_ISSUERS,
  });
  return {
    config,
    db,
    redis,
    rates: new CallRateLimits(redis, config.QUEUE_PREFIX, log),
    producer,
    waiter,
    directory,
    verified: new VerifiedTokenCache(),
    registry,
    keyring,
    tenants: new TenantCache(db.db),
    users: new UserCache(),
    authServers,
    upstreamLogin,
    log,
    metrics: createMetrics('api'),
    outages: new OutageLog(log, { postgres: () => db.sql`select 1`, redis: () => redis.ping() }),
    async close() {
      this.outages.close();
      await producer.close().catch(() => undefined);
      await waiter.close();
      await redis.quit().catch(() => undefined);
      await db.close();
      await egress.close();
    },
  };
}
