import { withCallStatements, type CallsDb } from '@mcprt/calls';
import { createOutbound } from '@mcprt/identity';
import {
  credentialVault,
  openTenantClientSecret,
  openUpstreamSecret,
  upstreamOf,
  type CredentialVault,
  type RedeemOptions,
  type RefreshClient,
} from '@mcprt/providers';
import { egressAllowsPrivate, type Config } from '@mcprt/config';
import { open, parseKeyring, sealPurposes, type Keyring } from '@mcprt/keyring';
import { createDb, type Tenant } from '@mcprt/db';
import { createLogger, createMetrics, type Logger, type Metrics } from '@mcprt/observability';
import { createToolRegistry, reconnectUrl, type ToolRegistry, type ToolServices } from '@mcprt/tools';
import { egressFetch } from '@mcprt/egress';
import { CancelListener, coalesceWrites, TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { OwnerCache } from './owner-cache.js';
import { redisKeys, type RedisKeys } from './redis-keys.js';
import { UpstreamBudgets } from './upstream-budget.js';
import { UserLeases } from './user-leases.js';

export interface WorkerResources {
  config: Config;
  db: CallsDb;
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
  /** The worker's Redis keys (leases, refresh locks, upstream pauses), under QUEUE_PREFIX. */
  keys: RedisKeys;
  /** Per-user per-upstream call budgets (upstream-budget.ts). */
  budgets: UpstreamBudgets;
  /** Per-user concurrency leases (user-leases.ts). */
  leases: UserLeases;
  /** The runs this process holds, aborted by the cancel channel (@mcprt/calls cancel-channel.ts). */
  cancels: CancelListener;
  /** Promote a delayed job now (a lease waiter whose slot was freed); missing or not delayed: no-op. */
  wakeJob(jobId: string): Promise<void>;
  /** How refresh tokens are redeemed (through the egress). */
  refreshRedeem: RedeemOptions;
  /** Where and as whom a credential of `provider` is refreshed for `tenant` (undefined: it cannot be). */
  refreshClient(tenant: Tenant, provider: string): Promise<RefreshClient | undefined>;
  close(): Promise<void>;
}

export function createWorkerResources(config: Config, overrides: { log?: Logger } = {}): WorkerResources {
  const log = overrides.log ?? createLogger({ name: 'worker', level: config.LOG_LEVEL });
  const db = withCallStatements(
    createDb(config.DATABASE_URL, {
      max: config.DATABASE_POOL_MAX,
      applicationName: 'mcprt-worker',
      connectTimeoutMs: config.DATABASE_CONNECT_TIMEOUT_MS,
    }),
  );
  // Commands of one loop turn in one write (lease release + BullMQ's moveToFinished, …): coalesce-writes.ts.
  const redis = coalesceWrites(new Redis(config.REDIS_URL, { maxRetriesPerRequest: null }));
  redis.on('error', (err) => log.warn({ err }, 'redis connection error'));
  // One egress for every outbound request (tools, discovery, JWKS). Production refuses private
  // addresses; development and test doubles live on 127.0.0.1 (EGRESS_ALLOW_PRIVATE overrides).
  const { egress, directory } = createOutbound({ ...config, allowPrivate: egressAllowsPrivate(config) }, log);
  const keyring = parseKeyring(config.SEAL_KEYS, config.SEAL_ACTIVE_KID);
  // Tenants' own Scavio keys, opened once per (tenant, sealed value): the tenant id is part of the
  // key, so a sealed value copied to another tenant is opened (and refused) under that tenant.
  const tenantScavioKeys = new Map<string, string>();
  const services: ToolServices = {
    egress,
    issuerMetadata: async (issuer) => ({ userinfoEndpoint: (await directory.metadata(issuer)).userinfoEndpoint }),
    scavio: {
      apiKey: config.SCAVIO_API_KEY,
      baseUrl: config.SCAVIO_BASE_URL.replace(/\/+$/, ''),
      style: config.SCAVIO_API_STYLE,
      tenantKey(tenantId, sealed) {
        const k = `${tenantId}\u0000${sealed}`;
        let key = tenantScavioKeys.get(k);
        if (key === undefined) {
          key = open(keyring, sealed, sealPurposes.scavio_api_key.context(tenantId));
          if (tenantScavioKeys.size >= 1_000) tenantScavioKeys.clear();
          tenantScavioKeys.set(k, key);
        }
        return key;
      },
    },
    upstream: {
      bases: { gmail: config.GMAIL_BASE_URL, calendar: config.GOOGLE_CALENDAR_BASE_URL, github: config.GITHUB_API_BASE_URL },
      timeoutMs: config.UPSTREAM_TIMEOUT_MS,
      maxBodyBytes: config.UPSTREAM_MAX_BODY_BYTES,
    },
    reconnectUrl: (slug, provider, scopes) => reconnectUrl(config.PUBLIC_URL, slug, provider, scopes),
  };
  const keys = redisKeys(config.QUEUE_PREFIX);
  // One subscribed connection per process for the cancel channel (never one per call).
  const cancelSub = new Redis(config.REDIS_URL, { maxRetriesPerRequest: null });
  cancelSub.on('error', (err) => log.warn({ err }, 'redis (cancel channel) connection error'));
  const cancels = new CancelListener(cancelSub, config.QUEUE_PREFIX, (err) => log.warn({ err }, 'cancel channel'));
  let queue: Queue | undefined;
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
    keys,
    budgets: new UpstreamBudgets(redis, config.QUEUE_PREFIX),
    // Leases last as long as a job's lock: a dead worker's slot and its job come back together.
    leases: new UserLeases(redis, keys, config.JOB_LOCK_MS),
    cancels,
    async wakeJob(jobId) {
      queue ??= new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix: config.QUEUE_PREFIX });
      const job = await queue.getJob(jobId).catch(() => undefined);
      if (job) await job.promote().catch(() => undefined); // not delayed (yet): it rechecks by itself
    },
    refreshRedeem: {
      allowInsecure: config.ALLOW_INSECURE_ISSUERS,
      fetch: egressFetch(egress, 'the identity provider', { timeoutMs: 10_000, maxBodyBytes: 64 * 1024 }),
      timeoutMs: 10_000,
    },
    async refreshClient(tenant, provider) {
      // An OIDC provider (discovery): its token endpoint, and the alg its ID tokens are signed with
      // (a refresh with `openid` may return one, which openid-client checks; default RS256).
      const discovered = async (issuer: string, clientId: string, clientSecret: string | undefined): Promise<RefreshClient | undefined> => {
        const meta = await directory.metadata(issuer);
        if (!meta.tokenEndpoint) return undefined;
        const algs = meta.idTokenSigningAlgs ?? [];
        const idTokenAlg = algs.length === 0 || algs.includes('RS256') ? undefined : algs[0];
        return { issuer: meta.issuer, tokenEndpoint: meta.tokenEndpoint, clientId, clientSecret, idTokenAlg };
      };
      // `idp` of an OIDC tenant: the tenant's registered client (it may be public: no secret).
      if (provider === 'idp' && tenant.idpKind === 'oidc') {
        if (!tenant.idpClientId) return undefined;
        const secret = tenant.idpClientSecretSealed ? openTenantClientSecret(keyring, tenant.id, tenant.idpClientSecretSealed) : undefined;
        return discovered(tenant.idpIssuer, tenant.idpClientId, secret);
      }
      // A Google/GitHub IdP or a connected provider (issue 8 §5, §8), as the tenant's client there.
      const u = upstreamOf(tenant, provider);
      if (!u) return undefined;
      const secret = openUpstreamSecret(keyring, u);
      if (u.kind === 'github') {
        const web = u.issuer.replace(/\/+$/, '');
        return { issuer: web, tokenEndpoint: `${web}/login/oauth/access_token`, clientId: u.clientId, clientSecret: secret, kind: 'github' };
      }
      return discovered(u.issuer, u.clientId, secret);
    },
    async close() {
      await queue?.close().catch(() => undefined);
      await cancels.close();
      await redis.quit().catch(() => undefined);
      await db.close();
      await egress.close();
    },
  };
}
