import { z } from 'zod';

const csv = z.string().transform((s) =>
  s
    .split(',')
    .map((x) => x.trim())
    .filter(Boolean),
);
const bool = z.enum(['true', 'false', '1', '0']).transform((v) => v === 'true' || v === '1');
/** A Redis URL ioredis reads: scheme redis/rediss, a host, no query or fragment. */
const isRedisUrl = (v: string): boolean => {
  if (!URL.canParse(v.trim())) return false;
  const u = new URL(v.trim());
  return (u.protocol === 'redis:' || u.protocol === 'rediss:') && u.hostname !== '' && !u.search && !u.hash;
};
const int = (def: number, min = 0) => z.coerce.number().int().min(min).default(def);
const percentDecoded = (v: string) => {
  try {
    return decodeURIComponent(v);
  } catch {
    return v;
  }
};
/** `key=value,key2=value2` (W3C Baggage-like, as the OTEL_* list variables are written); values percent-decoded. */
const kvList = z
  .string()
  .regex(/^\s*[^=,\s]+\s*=[^,]*(,\s*[^=,\s]+\s*=[^,]*)*\s*$/, 'key=value pairs separated by commas')
  .transform((s) =>
    Object.fromEntries(
      s.split(',').map((pair) => {
        const at = pair.indexOf('=');
        return [pair.slice(0, at).trim(), percentDecoded(pair.slice(at + 1).trim())];
      }),
    ),
  );
const otlpProtocol = z.enum(['http/protobuf', 'http/json'], { message: 'http/protobuf or http/json (grpc is not supported)' });

/** Every variable of every process, with its default and its rule; each process reads its view (views.ts). */
export const schema = z.object({
  NODE_ENV: z.enum(['development', 'test', 'production']).default('development'),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  HOST: z.string().default('127.0.0.1'),
  PORT: int(3000),
  /** Origin clients reach the API at; the MCP resource URL of a tenant is `{PUBLIC_URL}/t/{slug}/mcp`. */
  PUBLIC_URL: z.url().transform((u) => u.replace(/\/+$/, '')),
  /** Extra browser origins allowed to call the MCP endpoint (a defence against DNS rebinding). */
  ALLOWED_ORIGINS: csv.default([]),
  /**
   * How many reverse proxies in front of the API append to X-Forwarded-For (and are trusted for
   * X-Forwarded-Proto/-Host): `false`/`0` none (the socket's address is the client), `true`/`1` one
   * (an ingress or TLS proxy), `N` a chain of N. The client address is the N-th entry from the
   * right of X-Forwarded-For; whatever a client wrote further left is ignored.
   */
  TRUST_PROXY: z
    .string()
    .regex(/^(true|false|\d{1,2})$/, 'true, false, or the number of proxies in front (0-99)')
    .default('false')
    .transform((v) => (v === 'true' ? 1 : v === 'false' ? 0 : Number(v))),
  MCP_BODY_LIMIT: z
    .string()
    .regex(/^\d+(b|kb|mb)$/, 'like 1mb or 256kb')
    .default('1mb'),
  /** Most messages one JSON-RPC batch may hold, and most tool calls one HTTP request may start (batches exist only in MCP 2025-03-26). */
  MCP_MAX_BATCH: int(20, 1),
  MCP_MAX_CALLS_PER_REQUEST: int(5, 1),
  /** The app role (LOGIN, DML only, never the owner): what the API, workers and CLI connect as. `pnpm migrate` creates it with this URL's user and password. */
  DATABASE_URL: z.url().default('postgres://mcprt_app@127.0.0.1:5432/mcprt'),
  /** The owner role, for migrating at start (development and tests only; in production run `pnpm migrate` as its own job). Unset = no migration at start. */
  MIGRATE_DATABASE_URL: z.url().optional(),
  DATABASE_POOL_MAX: int(10, 1),
  /** Give up connecting to Postgres after this long (postgres.js defaults to 30 s: clients hung that long in an outage). */
  DATABASE_CONNECT_TIMEOUT_MS: int(2_000, 100),
  /** What `Retry-After` (seconds) a client gets while Postgres or Redis is unreachable, or while the API drains. */
  RETRY_AFTER_S: int(2, 1),
  /**
   * Redis: one `redis://` or `rediss://` URL (user, password, TLS, database number); with
   * REDIS_CLUSTER=true, the seed nodes of a Redis Cluster as a comma-separated list of such URLs (one
   * reachable node is enough to learn the others; each node is then reached with the first URL's
   * user, password and TLS). Rules across the two: clusterRules in load-config.ts.
   */
  REDIS_URL: z
    .string()
    .default('redis://127.0.0.1:6379')
    .refine((v) => v.split(',').every(isRedisUrl), 'redis://… or rediss://… (REDIS_CLUSTER=true: several, comma-separated)'),
  /** Whether REDIS_URL names a Redis Cluster (ioredis Cluster client, sharded pub/sub for the cancel channel). */
  REDIS_CLUSTER: bool.default(false),
  /**
   * BullMQ key prefix, and the prefix of every other key and channel (packages/redis keys.ts). The
   * braces are a Redis Cluster hash tag: every key hashes to one slot, which BullMQ's scripts and ours
   * need; required with REDIS_CLUSTER=true.
   */
  QUEUE_PREFIX: z.string().min(1).default('{mcprt}'),
  /** Keyring for sealed tokens: `kid:base64url32bytes,kid2:…`. The last (or SEAL_ACTIVE_KID) seals. */
  SEAL_KEYS: z.string().min(1, 'is required (run `pnpm cli keys generate`)'),
  SEAL_ACTIVE_KID: z.string().optional(),
  /** How long tools/call waits for the worker before answering with the call id. */
  CALL_WAIT_MS: int(20_000),
  /** How long a call the tenant's rules hold for approval waits for it; then it fails (`approval_expired`) without running. */
  APPROVAL_TTL_S: int(900, 10),
  /** How often a worker fails the calls whose approval deadline passed. */
  APPROVAL_SWEEP_MS: int(5_000, 100),
  /**
   * A tools/call whose request declares the `io.modelcontextprotocol/tasks` extension
   * waits this long, then answers with a task (CreateTaskResult) instead of making the client hang.
   */
  TASK_WAIT_MS: int(1_000),
  /** The tasks' `ttlMs` (how long a task's result can be polled) and suggested `pollIntervalMs`. */
  TASK_TTL_MS: int(24 * 3600_000, 1),
  TASK_POLL_INTERVAL_MS: int(1_000, 1),
  /**
   * A plain tools/call with a `progressToken`: answered over SSE, with a progress notification
   * every PROGRESS_INTERVAL_MS (clients reset their timeouts on progress), for at most
   * PROGRESS_WAIT_MS before the "still running" answer.
   */
  PROGRESS_INTERVAL_MS: int(5_000, 10),
  PROGRESS_WAIT_MS: int(120_000),
  ENQUEUE_TIMEOUT_MS: int(2_000, 1),
  WORKER_CONCURRENCY: int(16, 1),
  /**
   * A worker with a free slot that takes no job for this long while jobs wait, and then sees them wait
   * as long again, has a stuck fetch loop and is replaced by a new BullMQ worker (apps/worker
   * fetch-watch.ts; a Redis Cluster primary's restart can leave one so). 0 = off.
   */
  WORKER_FETCH_WATCH_MS: int(10_000, 0),
  /** A call still running after this long is shown as `running` (quicker ones go from `queued` to final in one write). */
  WORKER_RUNNING_MARK_MS: int(100),
  /** The API's Prometheus /metrics listener, never the public port (process metrics reveal tenants and traffic); 0 = off. */
  METRICS_PORT: int(9464),
  /** Loopback by default; in a pod set 0.0.0.0 and keep the port out of the public Service. */
  METRICS_HOST: z.string().default('127.0.0.1'),
  /** Worker's /metrics and /healthz port (0 = off). */
  WORKER_METRICS_PORT: int(0),
  JOB_ATTEMPTS: int(5, 1),
  JOB_BACKOFF_MS: int(1_000, 1),
  /**
   * A worker's job lock, renewed every half of it; a killed worker's job is handed to another worker
   * within about JOB_LOCK_MS + 2 × JOB_STALLED_INTERVAL_MS (≈ 9 s with these defaults, under
   * CALL_WAIT_MS). Shorter = faster failover but more Redis writes and, if a worker's event loop
   * blocks longer than the lock, a second (fenced) run of its job. See docs/operations.md.
   */
  JOB_LOCK_MS: int(5_000, 1_000),
  JOB_STALLED_INTERVAL_MS: int(2_000, 500),
  /** A job that stalls more often than this (a poison job that kills or wedges its worker) goes to failed; its call is failed and audited. */
  JOB_MAX_STALLED: int(2, 0),
  SHUTDOWN_GRACE_MS: int(25_000, 0),
  /** After SIGTERM the API keeps its listener open at least this long with /readyz failing, so load balancers see it (docs/operations.md). */
  SHUTDOWN_READY_DELAY_MS: int(0, 0),
  RECONCILE_INTERVAL_MS: int(5_000, 100),
  /** A `queued` call older than this with no job in Redis is enqueued again. */
  RECONCILE_AFTER_MS: int(5_000, 0),
  /** After fetching an issuer's JWKS, wait at least this long before fetching it again for an unknown key id. */
  JWKS_REFRESH_COOLDOWN_MS: int(30_000),
  /** Allow `http://` IdP issuers (tests, the development IdP). Refused in production. */
  ALLOW_INSECURE_ISSUERS: bool.default(false),
  /** Let outbound requests reach loopback and private addresses (doubles on 127.0.0.1). Default: on outside production, off in production. */
  EGRESS_ALLOW_PRIVATE: bool.optional(),
  /** Extra PEM certificate authorities outbound TLS trusts besides the system ones (a private CA; tests' https doubles). */
  EGRESS_EXTRA_CA_PEM: z.string().includes('-----BEGIN CERTIFICATE-----').optional(),
  /**
   * Node's own: a PEM file of CAs Node trusts besides its bundled ones (read by Node at start). Read
   * here only so the egress can keep trusting it alongside EGRESS_EXTRA_CA_PEM on a Node without
   * `tls.getCACertificates` (before 22.15).
   */
  NODE_EXTRA_CA_CERTS: z.string().optional(),
  /** How long a failed issuer discovery or JWKS fetch is remembered (requests in the window get 503 + Retry-After, no outbound request). */
  IDP_FAILURE_CACHE_MS: int(5_000),
  SCAVIO_API_KEY: z.string().min(1).optional(),
  SCAVIO_BASE_URL: z.url().default('https://api.scavio.dev'),
  /** `v2` = POST /api/v2/google with Bearer (current SDKs); `v1-search` = the walkthrough's form. */
  SCAVIO_API_STYLE: z.enum(['v2', 'v1-search']).default('v2'),
  /** Upstream APIs of the user-data tools; configurable so tests reach local doubles. */
  GMAIL_BASE_URL: z.url().default('https://gmail.googleapis.com'),
  GOOGLE_CALENDAR_BASE_URL: z.url().default('https://www.googleapis.com'),
  GITHUB_API_BASE_URL: z.url().default('https://api.github.com'),
  /** One upstream request's deadline (connect, redirects and body) in the Gmail, Calendar and GitHub tools. */
  UPSTREAM_TIMEOUT_MS: int(10_000, 100),
  /** Default cap on one upstream JSON answer (tools that read more, e.g. email_read, set their own). */
  UPSTREAM_MAX_BODY_BYTES: int(2 * 1024 * 1024, 1024),
  /** Audit checkpointer (docs/audit.md): how often the worker seals newly appended audit rows; 0 = off. */
  AUDIT_CHECKPOINT_INTERVAL_MS: int(60_000, 0),
  /** At most this many rows per checkpoint (a tick writes several when more are waiting). */
  AUDIT_CHECKPOINT_MAX_ROWS: int(5_000, 1),
  /** Longest the checkpointer waits for transactions that were open at its horizon to end before it skips a tick. */
  AUDIT_CHECKPOINT_SETTLE_MS: int(10_000, 0),
  /** Retention job (docs/audit.md): how often the worker removes expired call results and sealed audit rows; 0 = off. */
  RETENTION_INTERVAL_MS: int(3_600_000, 0),
  /** Rows per delete statement of the retention job (small: short locks). */
  RETENTION_BATCH: int(1_000, 1),
  /** Tools that exist only for tests and benchmarks (`echo`). Refused in production. */
  ENABLE_TEST_TOOLS: bool.default(false),
  /*
   * Tracing (OpenTelemetry, docs/operations.md "Tracing"): the standard OTEL_* variables. Off unless
   * OTEL_TRACES_EXPORTER names an exporter (the SDK's own default would be `otlp`; here tracing is
   * opt-in, and with it off no SDK module is loaded).
   */
  /** `true`: no tracing whatever OTEL_TRACES_EXPORTER says. */
  OTEL_SDK_DISABLED: bool.default(false),
  /** `none` (default): off. `otlp`: OTLP over HTTP to OTEL_EXPORTER_OTLP_(TRACES_)ENDPOINT. `console`: spans on stdout (debugging). */
  OTEL_TRACES_EXPORTER: z.enum(['none', 'otlp', 'console']).default('none'),
  /** The `service.name` resource attribute; default `mcprt-api`, `mcprt-worker`, `mcprt-cli`. */
  OTEL_SERVICE_NAME: z.string().min(1).max(128).optional(),
  /** More resource attributes: `deployment.environment.name=prod,service.namespace=mcp`. */
  OTEL_RESOURCE_ATTRIBUTES: kvList.optional(),
  /** The collector's base URL; traces go to `{endpoint}/v1/traces`. */
  OTEL_EXPORTER_OTLP_ENDPOINT: z.url().default('http://localhost:4318'),
  /** The full traces URL, used as is (wins over OTEL_EXPORTER_OTLP_ENDPOINT). */
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: z.url().optional(),
  OTEL_EXPORTER_OTLP_PROTOCOL: otlpProtocol.default('http/protobuf'),
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL: otlpProtocol.optional(),
  /** Headers on every export request (`authorization=Bearer%20…`): may hold a secret, never logged. */
  OTEL_EXPORTER_OTLP_HEADERS: kvList.optional(),
  /** One export request's deadline. */
  OTEL_EXPORTER_OTLP_TIMEOUT: int(10_000, 100),
  OTEL_TRACES_SAMPLER: z
    .enum(['always_on', 'always_off', 'traceidratio', 'parentbased_always_on', 'parentbased_always_off', 'parentbased_traceidratio'])
    .default('parentbased_always_on'),
  /** The ratio of the `traceidratio` samplers, 0 to 1 (default 1). */
  OTEL_TRACES_SAMPLER_ARG: z.coerce.number().min(0).max(1).optional(),
  /** How often finished spans are exported in a batch, and how many may wait (more are dropped, never block a call). */
  OTEL_BSP_SCHEDULE_DELAY: int(5_000, 1),
  OTEL_BSP_MAX_QUEUE_SIZE: int(2_048, 1),
});

export type Config = z.infer<typeof schema>;
