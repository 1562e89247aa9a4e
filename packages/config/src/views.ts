import type { Config } from './schema.js';

/** Tracing (the OTEL_* variables): the same in every process, the CLI included. */
const TRACING = [
  'OTEL_SDK_DISABLED',
  'OTEL_TRACES_EXPORTER',
  'OTEL_SERVICE_NAME',
  'OTEL_RESOURCE_ATTRIBUTES',
  'OTEL_EXPORTER_OTLP_ENDPOINT',
  'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT',
  'OTEL_EXPORTER_OTLP_PROTOCOL',
  'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL',
  'OTEL_EXPORTER_OTLP_HEADERS',
  'OTEL_EXPORTER_OTLP_TIMEOUT',
  'OTEL_TRACES_SAMPLER',
  'OTEL_TRACES_SAMPLER_ARG',
  'OTEL_BSP_SCHEDULE_DELAY',
  'OTEL_BSP_MAX_QUEUE_SIZE',
] as const satisfies readonly (keyof Config)[];

/** What every long-running process (API and worker) reads: database, Redis, keyring, egress, logging, shutdown. */
const PROCESS = [
  'NODE_ENV',
  'LOG_LEVEL',
  'HOST',
  'PUBLIC_URL',
  'DATABASE_URL',
  'MIGRATE_DATABASE_URL',
  'DATABASE_POOL_MAX',
  'DATABASE_CONNECT_TIMEOUT_MS',
  'REDIS_URL',
  'REDIS_CLUSTER',
  'QUEUE_PREFIX',
  'SEAL_KEYS',
  'SEAL_ACTIVE_KID',
  'SHUTDOWN_GRACE_MS',
  'JOB_ATTEMPTS',
  'JOB_BACKOFF_MS',
  'JOB_LOCK_MS',
  'ALLOW_INSECURE_ISSUERS',
  'EGRESS_ALLOW_PRIVATE',
  'EGRESS_EXTRA_CA_PEM',
  'NODE_EXTRA_CA_CERTS',
  'JWKS_REFRESH_COOLDOWN_MS',
  'IDP_FAILURE_CACHE_MS',
  'ENABLE_TEST_TOOLS',
  ...TRACING,
] as const satisfies readonly (keyof Config)[];

/**
 * The settings each process reads: it parses and validates only these, so a setting of another
 * process (wrong or missing) never stops it. One schema (schema.ts) defines every variable once.
 */
export const VIEWS = {
  api: [
    ...PROCESS,
    'PORT',
    'ALLOWED_ORIGINS',
    'TRUST_PROXY',
    'MCP_BODY_LIMIT',
    'MCP_MAX_BATCH',
    'MCP_MAX_CALLS_PER_REQUEST',
    'RETRY_AFTER_S',
    'CALL_WAIT_MS',
    'APPROVAL_TTL_S',
    'TASK_WAIT_MS',
    'TASK_TTL_MS',
    'TASK_POLL_INTERVAL_MS',
    'PROGRESS_INTERVAL_MS',
    'PROGRESS_WAIT_MS',
    'ENQUEUE_TIMEOUT_MS',
    'METRICS_PORT',
    'METRICS_HOST',
    'SHUTDOWN_READY_DELAY_MS',
    'RECONCILE_INTERVAL_MS',
    'RECONCILE_AFTER_MS',
  ],
  worker: [
    ...PROCESS,
    'APPROVAL_SWEEP_MS',
    'WORKER_CONCURRENCY',
    'WORKER_RUNNING_MARK_MS',
    'WORKER_FETCH_WATCH_MS',
    'WORKER_METRICS_PORT',
    'JOB_STALLED_INTERVAL_MS',
    'JOB_MAX_STALLED',
    'SCAVIO_API_KEY',
    'SCAVIO_BASE_URL',
    'SCAVIO_API_STYLE',
    'GMAIL_BASE_URL',
    'GOOGLE_CALENDAR_BASE_URL',
    'GITHUB_API_BASE_URL',
    'UPSTREAM_TIMEOUT_MS',
    'UPSTREAM_MAX_BODY_BYTES',
    'AUDIT_CHECKPOINT_INTERVAL_MS',
    'AUDIT_CHECKPOINT_MAX_ROWS',
    'AUDIT_CHECKPOINT_SETTLE_MS',
    'RETENTION_INTERVAL_MS',
    'RETENTION_BATCH',
  ],
  /** The operator CLI: the database, the keyring, and what tenant set-up checks. */
  cli: ['NODE_ENV', 'PUBLIC_URL', 'DATABASE_URL', 'SEAL_KEYS', 'SEAL_ACTIVE_KID', 'ALLOW_INSECURE_ISSUERS', 'ENABLE_TEST_TOOLS', ...TRACING],
} as const satisfies Record<string, readonly (keyof Config)[]>;

export type ConfigViewName = keyof typeof VIEWS;

/** The configuration one process sees. */
export type ConfigView<V extends ConfigViewName> = Pick<Config, (typeof VIEWS)[V][number]>;
export type ApiConfig = ConfigView<'api'>;
export type WorkerConfig = ConfigView<'worker'>;
export type CliConfig = ConfigView<'cli'>;
/** What both long-running processes read (the bootstrap's part). */
export type ProcessConfig = Pick<Config, (typeof PROCESS)[number]>;
/** The tracing settings (every process has them). */
export type TracingConfig = Pick<Config, (typeof TRACING)[number]>;
