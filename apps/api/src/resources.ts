import { IssuerDirectory, VerifiedTokenCache } from '@mcprt/auth';
import { egressAllowsPrivate, type Config } from '@mcprt/config';
import { parseKeyring, type Keyring } from '@mcprt/crypto';
import { createDb, type DbHandle } from '@mcprt/db';
import { createLogger, createMetrics, type Logger, type Metrics } from '@mcprt/observability';
import { CompletionWaiter, createProducer, type Producer } from '@mcprt/queue';
import { createEgress, createToolRegistry, type ToolRegistry } from '@mcprt/tools';
import { Redis } from 'ioredis';
import { OutageLog } from './http/outage.js';
import { TenantCache } from './http/tenant-cache.js';
import { UserCache } from './http/user-cache.js';

/** Everything the API's handlers use, passed in (STYLE.md §2), built once per process. */
export interface ApiResources {
  config: Config;
  db: DbHandle;
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
  const db = createDb(config.DATABASE_URL, {
    max: config.DATABASE_POOL_MAX,
    applicationName: 'mcprt-api',
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
  });
  // Producer connection: fail fast when Redis is away (the call is already recorded; the reconciler
  // enqueues it later) instead of buffering commands in memory.
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false });
  redis.on('error', (err) => log.warn({ err }, 'redis connection error'));
  const producer = createProducer({
    connection: redis,
    prefix: config.QUEUE_PREFIX,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    timeoutMs: config.ENQUEUE_TIMEOUT_MS,
  });
  const waiter = new CompletionWaiter((ring) => db.calls.onCallDone(ring));
  // Discovery and JWKS go through the egress rules (DESIGN §5); private addresses only outside production.
  const egress = createEgress({ allowPrivate: egressAllowsPrivate(config) });
  const directory = new IssuerDirectory({
    allowInsecure: config.ALLOW_INSECURE_ISSUERS,
    jwksCooldownMs: config.JWKS_REFRESH_COOLDOWN_MS,
    failureTtlMs: config.IDP_FAILURE_CACHE_MS,
    egress,
    log,
  });
  return {
    config,
    db,
    redis,
    producer,
    waiter,
    directory,
    verified: new VerifiedTokenCache(),
    registry: createToolRegistry({ includeTestTools: config.ENABLE_TEST_TOOLS }),
    keyring: parseKeyring(config.SEAL_KEYS, config.SEAL_ACTIVE_KID),
    tenants: new TenantCache(db.db),
    users: new UserCache(),
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
