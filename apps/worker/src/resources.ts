import { IssuerDirectory, credentialVault, type CredentialVault } from '@mcprt/auth';
import { egressAllowsPrivate, type Config } from '@mcprt/config';
import { parseKeyring, type Keyring } from '@mcprt/crypto';
import { createDb, type DbHandle } from '@mcprt/db';
import { createLogger, createMetrics, type Logger, type Metrics } from '@mcprt/observability';
import { createEgress, createToolRegistry, type ToolRegistry, type ToolServices } from '@mcprt/tools';
import { Redis } from 'ioredis';
import { OwnerCache } from './owner-cache.js';

export interface WorkerResources {
  config: Config;
  db: DbHandle;
  /** For BullMQ (blocking commands): maxRetriesPerRequest must be null. */
  redis: Redis;
  vault: CredentialVault;
  /** Opens a call's sealed sensitive arguments (tool_calls.sealed_args). */
  keyring: Keyring;
  owners: OwnerCache;
  registry: ToolRegistry;
  services: ToolServices;
  log: Logger;
  metrics: Metrics;
  close(): Promise<void>;
}

export function createWorkerResources(config: Config, overrides: { log?: Logger } = {}): WorkerResources {
  const log = overrides.log ?? createLogger({ name: 'worker', level: config.LOG_LEVEL });
  const db = createDb(config.DATABASE_URL, {
    max: config.DATABASE_POOL_MAX,
    applicationName: 'mcprt-worker',
    connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
  });
  const redis = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  redis.on('error', (err) => log.warn({ err }, 'redis connection error'));
  // One egress for tools, discovery and JWKS. Production refuses private addresses; development and
  // test doubles live on 127.0.0.1 (EGRESS_ALLOW_PRIVATE overrides).
  const egress = createEgress({ allowPrivate: egressAllowsPrivate(config) });
  const directory = new IssuerDirectory({
    allowInsecure: config.ALLOW_INSECURE_ISSUERS,
    jwksCooldownMs: config.JWKS_REFRESH_COOLDOWN_MS,
    failureTtlMs: config.IDP_FAILURE_CACHE_MS,
    egress,
    log,
  });
  const keyring = parseKeyring(config.SEAL_KEYS, config.SEAL_ACTIVE_KID);
  const services: ToolServices = {
    egress,
    issuerMetadata: async (issuer) => ({ userinfoEndpoint: (await directory.metadata(issuer)).userinfoEndpoint }),
    scavio: { apiKey: config.SCAVIO_API_KEY, baseUrl: config.SCAVIO_BASE_URL.replace(/\/+$/, ''), style: config.SCAVIO_API_STYLE },
  };
  return {
    config,
    db,
    redis,
    vault: credentialVault(keyring),
    keyring,
    owners: new OwnerCache(db.db),
    registry: createToolRegistry({ includeTestTools: config.ENABLE_TEST_TOOLS }),
    services,
    log,
    metrics: createMetrics('worker'),
    async close() {
      await redis.quit().catch(() => undefined);
      await db.close();
      await egress.close();
    },
  };
}
