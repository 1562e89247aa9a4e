import { egressAllowsPrivate, type ProcessConfig } from '@mcprt/config';
import { checkAppRole, createDb, runMigrations, type DbHandle } from '@mcprt/db';
import type { Egress } from '@mcprt/egress';
import { createOutbound, type IssuerDirectory } from '@mcprt/identity';
import { parseKeyring, type Keyring } from '@mcprt/keyring';
import { createLogger, createMetrics, type Logger, type Metrics } from '@mcprt/observability';
import { connectRedis, redisKeys, type RedisKeys, type RedisRole } from '@mcprt/redis';
import type { RedisClient } from '@mcprt/redis';
import { checkKeyringOpensStoredSecrets } from './sealed-check.js';
import { startProcessTracing } from './tracing.js';

export type ProcessName = 'api' | 'worker';

/** What every long-running process holds, built the same way in each. */
export interface ProcessBase<C extends ProcessConfig> {
  config: C;
  log: Logger;
  metrics: Metrics;
  db: DbHandle;
  redis: RedisClient;
  /** Every Redis key, under QUEUE_PREFIX. */
  keys: RedisKeys;
  /** Seals and opens stored secrets (credentials, sealed call arguments, client secrets). */
  keyring: Keyring;
  /** The one egress for every outbound request (tools, discovery, JWKS) and the issuer directory on it. */
  egress: Egress;
  directory: IssuerDirectory;
  /** Closes what the base opened: the Redis connection, the database pool, the egress. */
  close(): Promise<void>;
}

export interface ProcessOptions {
  /** A logger of the caller's (tests); default: one named after the process at LOG_LEVEL. */
  log?: Logger;
  /** Migrate at start when MIGRATE_DATABASE_URL is set (default); false: never. */
  migrate?: boolean;
}

/** Which Redis connection each process's commands go through (see RedisRole). */
const REDIS_ROLE: Record<ProcessName, RedisRole> = { api: 'fail-fast', worker: 'blocking' };

/**
 * The process's shared pieces, not yet checked against the database (`openProcess` does that).
 * Production refuses outbound requests to private addresses; development and test doubles live on
 * 127.0.0.1 (EGRESS_ALLOW_PRIVATE overrides).
 */
export function createProcessBase<C extends ProcessConfig>(name: ProcessName, config: C, opts: Pick<ProcessOptions, 'log'> = {}): ProcessBase<C> {
  const log = opts.log ?? createLogger({ name, level: config.LOG_LEVEL });
  const db = createDb(config.DATABASE_URL, {
    max: config.DATABASE_POOL_MAX,
    applicationName: `mcprt-${name}`,
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
  });
  const redis = connectRedis(config, REDIS_ROLE[name], (err) => log.warn({ err }, 'redis connection error'));
  const { egress, directory } = createOutbound({ ...config, allowPrivate: egressAllowsPrivate(config) }, log);
  const metrics = createMetrics(name);
  // mcprt_dependency_up{dependency}: the dashboard's outage panel and the dependency-down alert.
  metrics.sampled.dependencies({ postgres: () => db.sql`select 1`, redis: () => redis.ping() });
  return {
    config,
    log,
    metrics,
    db,
    redis,
    keys: redisKeys(config.QUEUE_PREFIX),
    keyring: parseKeyring(config.SEAL_KEYS, config.SEAL_ACTIVE_KID),
    egress,
    directory,
    async close() {
      await redis.quit().catch(() => undefined);
      await db.close();
      await egress.close();
    },
  };
}

/**
 * Start a process's shared part: migrate first in development and tests (with the owner's URL;
 * production migrates as a separate job and refuses MIGRATE_DATABASE_URL), start tracing when the
 * OTEL_* settings ask for it (flushed and stopped by `close`), build the base, then check
 * that the database role is the app role (refused in production when it is not; a warning elsewhere)
 * and that SEAL_KEYS opens the stored secrets (sealed-check.ts).
 */
export async function openProcess<C extends ProcessConfig>(name: ProcessName, config: C, opts: ProcessOptions = {}): Promise<ProcessBase<C>> {
  if (opts.migrate !== false && config.MIGRATE_DATABASE_URL) await runMigrations(config.MIGRATE_DATABASE_URL, { appUrl: config.DATABASE_URL });
  const log = opts.log ?? createLogger({ name, level: config.LOG_LEVEL });
  const tracing = await startProcessTracing(name, config, log);
  const base = createProcessBase(name, config, { log });
  if (tracing) {
    const closeBase = base.close;
    base.close = async () => {
      await closeBase();
      await tracing.shutdown();
    };
  }
  const production = config.NODE_ENV === 'production';
  const checks = async () => {
    await checkAppRole(base.db.sql, { production, warn: (msg, problems) => base.log.warn({ problems }, msg) });
    await checkKeyringOpensStoredSecrets(base.db, base.keyring, (msg, failing) => base.log.warn({ failing }, msg));
  };
  await checks().catch(async (e: unknown) => {
    await base.close();
    throw e;
  });
  return base;
}
