import type { ProcessBase } from '@mcprt/bootstrap';
import { CallLogFollower, CompletionWaiter, createProducer, withCallStatements, type CallsDb, type Producer } from '@mcprt/calls';
import type { ApiConfig } from '@mcprt/config';
import { egressFetch, type Egress } from '@mcprt/egress';
import { VerifiedTokenCache, type IssuerDirectory } from '@mcprt/identity';
import type { Keyring } from '@mcprt/keyring';
import type { Logger, Metrics } from '@mcprt/observability';
import { connectRedis, type RedisKeys } from '@mcprt/redis';
import { createToolRegistry, type ToolRegistry } from '@mcprt/tools';
import type { RedisClient } from '@mcprt/redis';
import { AuthServers } from './auth-server/provider.js';
import { UpstreamLogin } from './auth-server/upstream.js';
import { CallRateLimits } from './calls/rate-limits.js';
import { OutageLog } from './http/outage.js';
import { inputAnswerSchema, type InputAnswerRelay } from './mcp/legacy-input.js';
import { ReplicaRelay, sharedSubscriber } from './mcp/replica-relay.js';
import { legacyCancelSchema, type LegacyCancel } from './mcp/tools-call.js';
import { TenantCache } from './http/tenant-cache.js';
import { UserCache } from './http/user-cache.js';

/** Everything the API's handlers use, passed in (never imported as a module-level singleton), built once per process. */
export interface ApiResources {
  config: ApiConfig;
  db: CallsDb;
  /** Fails fast while Redis is away (the call is already recorded; the reconciler enqueues it later). */
  redis: RedisClient;
  /** Every Redis key (rate limits, registration window, client capabilities), under QUEUE_PREFIX. */
  keys: RedisKeys;
  producer: Producer;
  waiter: CompletionWaiter;
  /** Tools' log messages, for the requests that follow their calls (calls/call-logs.ts). */
  callLogs: CallLogFollower;
  egress: Egress;
  directory: IssuerDirectory;
  verified: VerifiedTokenCache;
  registry: ToolRegistry;
  /** Seals a call's sensitive arguments for the worker and keys the idempotency request hash; the API never opens user tokens with it. */
  keyring: Keyring;
  tenants: TenantCache;
  users: UserCache;
  /** Built-in tenants' OAuth authorization servers and their federated login. */
  authServers: AuthServers;
  upstreamLogin: UpstreamLogin;
  /** Per-user and per-tenant call rates (calls/rate-limits.ts). */
  rates: CallRateLimits;
  /** 2025 clients' answers to a tool's input requests, across replicas (mcp/replica-relay.ts). */
  inputAnswers: InputAnswerRelay;
  /** 2025 clients' `notifications/cancelled`, to the replica whose tools/call waits (mcp/replica-relay.ts). */
  legacyCancels: ReplicaRelay<LegacyCancel>;
  log: Logger;
  metrics: Metrics;
  /** Postgres / Redis outages: logged once each, probed until they end (http/outage.ts). */
  outages: OutageLog;
  /** Aborted when the API drains: waits for recorded calls end and answer with the call id (server.ts). */
  drain?: AbortSignal;
  close(): Promise<void>;
}

/** The API's resources over the process base (bootstrap): the call engine's producer and waiter, identity, caches. */
export function createApiResources(base: ProcessBase<ApiConfig>): ApiResources {
  const { config, redis, egress, keyring, log } = base;
  const db = withCallStatements(base.db);
  // The adds of one group commit leave in one socket write (the Redis connection coalesces them).
  const producer = createProducer({
    connection: redis,
    prefix: base.keys.queuePrefix,
    attempts: config.JOB_ATTEMPTS,
    backoffMs: config.JOB_BACKOFF_MS,
    timeoutMs: config.ENQUEUE_TIMEOUT_MS,
  });
  const waiter = new CompletionWaiter((ring) => db.calls.onCallDone(ring));
  const callLogs = new CallLogFollower((fn) => db.calls.onCallLog(fn));
  const registry = createToolRegistry({ includeTestTools: config.ENABLE_TEST_TOOLS });
  // Client ID Metadata Documents and the tenant IdP's discovery/token endpoint: the same egress rules.
  // A document never comes from another origin than its URL's: a redirect leaving it is refused (and
  // oidc-provider asks for `redirect: manual`, so it refuses any redirect itself).
  const asFetch = egressFetch(egress, 'the authorization server', { timeoutMs: 5_000, maxBodyBytes: 64 * 1024, sameOriginRedirectsOnly: true });
  const idpFetch = egressFetch(egress, "the tenant's identity provider", { timeoutMs: 10_000, maxBodyBytes: 512 * 1024 });
  // The relays of 2025 clients' messages that name a request held by another replica: one subscriber
  // connection, opened when this replica first holds such a request.
  const relaySub = sharedSubscriber(() => connectRedis(config, 'subscriber', (err) => log.warn({ err }, 'redis (replica relay) connection error')));
  const inputAnswers = new ReplicaRelay({
    redis,
    subscriber: relaySub.get,
    channel: base.keys.inputAnswerChannel,
    schema: inputAnswerSchema,
    what: 'input answer',
    log,
  });
  const legacyCancels = new ReplicaRelay({
    redis,
    subscriber: relaySub.get,
    channel: base.keys.legacyCancelChannel,
    schema: legacyCancelSchema,
    what: 'notifications/cancelled',
    log,
  });
  const outages = new OutageLog(log, { postgres: () => db.sql`select 1`, redis: () => redis.ping() });
  return {
    ...base,
    db,
    producer,
    waiter,
    callLogs,
    verified: new VerifiedTokenCache(),
    registry,
    tenants: new TenantCache(db.db),
    users: new UserCache(),
    authServers: new AuthServers({ publicUrl: config.PUBLIC_URL, db: db.db, keyring, registry, log, fetch: asFetch, idpFetch, redis, keys: base.keys }),
    upstreamLogin: new UpstreamLogin({ keyring, fetch: idpFetch, allowInsecure: config.ALLOW_INSECURE_ISSUERS }),
    rates: new CallRateLimits(redis, base.keys, log),
    inputAnswers,
    legacyCancels,
    outages,
    async close() {
      outages.close();
      await producer.close().catch(() => undefined);
      await waiter.close();
      await callLogs.close();
      await relaySub.close();
      await base.close();
    },
  };
}
