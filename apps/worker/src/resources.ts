import type { ProcessBase } from '@mcprt/bootstrap';
import { CancelListener, TOOL_CALLS_QUEUE, withCallStatements, type CallsDb } from '@mcprt/calls';
import type { WorkerConfig } from '@mcprt/config';
import type { Tenant } from '@mcprt/db';
import { egressFetch } from '@mcprt/egress';
import type { Keyring } from '@mcprt/keyring';
import type { Logger, Metrics } from '@mcprt/observability';
import { credentialVault, refreshClientOf, type CredentialVault, type RedeemOptions, type RefreshClient } from '@mcprt/providers';
import { connectRedis, type RedisKeys } from '@mcprt/redis';
import { createToolRegistry, type ToolRegistry, type ToolServices } from '@mcprt/tools';
import { Queue } from 'bullmq';
import type { RedisClient } from '@mcprt/redis';
import { OwnerCache } from './owner-cache.js';
import { toolServices } from './services.js';
import { UpstreamBudgets } from './upstream-budget.js';
import { UserLeases } from './user-leases.js';

export interface WorkerResources {
  config: WorkerConfig;
  db: CallsDb;
  /** For BullMQ (blocking commands): maxRetriesPerRequest must be null. */
  redis: RedisClient;
  vault: CredentialVault;
  /** Opens a call's sealed sensitive arguments (tool_calls.sealed_args). */
  keyring: Keyring;
  owners: OwnerCache;
  registry: ToolRegistry;
  services: ToolServices;
  log: Logger;
  metrics: Metrics;
  /** Every Redis key (leases, refresh locks, upstream pauses, budgets), under QUEUE_PREFIX. */
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

/** The worker's resources over the process base (bootstrap): tools and their services, leases, budgets, the cancel channel. */
export function createWorkerResources(base: ProcessBase<WorkerConfig>): WorkerResources {
  const { config, redis, keys, keyring, egress, directory, log } = base;
  const db = withCallStatements(base.db);
  // Admission notices of lone calls, heard from the start (statements/admission-gate.ts in @mcprt/calls).
  void db.calls.watchAdmissions();
  // One subscribed connection per process for the cancel channel (never one per call).
  const cancelSub = connectRedis(config, 'subscriber', (err) => log.warn({ err }, 'redis (cancel channel) connection error'));
  const cancels = new CancelListener(cancelSub, keys.queuePrefix, (err) => log.warn({ err }, 'cancel channel'));
  let queue: Queue | undefined;
  return {
    config,
    db,
    redis,
    vault: credentialVault(keyring),
    keyring,
    owners: new OwnerCache(db.db),
    registry: createToolRegistry({ includeTestTools: config.ENABLE_TEST_TOOLS }),
    services: toolServices(config, egress, directory, keyring),
    log,
    metrics: base.metrics,
    keys,
    budgets: new UpstreamBudgets(redis, keys),
    // Leases last as long as a job's lock: a dead worker's slot and its job come back together.
    leases: new UserLeases(redis, keys, config.JOB_LOCK_MS),
    cancels,
    async wakeJob(jobId) {
      queue ??= new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix: keys.queuePrefix });
      const job = await queue.getJob(jobId).catch(() => undefined);
      if (job) await job.promote().catch(() => undefined); // not delayed (yet): it rechecks by itself
    },
    refreshRedeem: {
      allowInsecure: config.ALLOW_INSECURE_ISSUERS,
      fetch: egressFetch(egress, 'the identity provider', { timeoutMs: 10_000, maxBodyBytes: 64 * 1024 }),
      timeoutMs: 10_000,
    },
    // Where each provider kind redeems refresh tokens, as the tenant's client there.
    refreshClient: (tenant, provider) => refreshClientOf(tenant, provider, { keyring, metadata: (issuer) => directory.metadata(issuer) }),
    async close() {
      await queue?.close().catch(() => undefined);
      await cancels.close();
      await base.close();
    },
  };
}
