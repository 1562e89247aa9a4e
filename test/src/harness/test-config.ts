import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '@mcprt/config';
import { generateKey } from '@mcprt/keyring';

/**
 * The test database as its owner (a superuser here): the template the global setup migrates and every
 * test clones (test-database.ts); the fault suite and the benchmark use it directly. Never handed to
 * an API, worker or CLI under test.
 */
export const TEST_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/mcprt_test';

/** The app role of the tests: a role of its own (roles are cluster-wide; the development database's is `mcprt_app`). */
export const TEST_APP_ROLE = 'mcprt_test_app';
const TEST_APP_PASSWORD = 'test-only-app-password';

/** The app-role URL of a database given by its owner URL: same server and database, the test app role. */
export function appUrlOf(ownerUrl: string): string {
  const u = new URL(ownerUrl);
  u.username = TEST_APP_ROLE;
  u.password = TEST_APP_PASSWORD;
  return u.toString();
}

/**
 * The same database as the app role (LOGIN, DML only, INSERT + SELECT on audit_events; created by the
 * migration): what the API, workers and CLI under test connect as (`DATABASE_URL` of testEnv).
 */
export const TEST_APP_DATABASE_URL = process.env.TEST_APP_DATABASE_URL ?? appUrlOf(TEST_DATABASE_URL);
export const TEST_REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
/**
 * `TEST_REDIS_CLUSTER=true`: TEST_REDIS_URL lists the seed nodes of a Redis Cluster
 * (infra/scripts/redis-cluster.sh start prints them) and every stack runs with REDIS_CLUSTER=true.
 */
export const TEST_REDIS_CLUSTER = process.env.TEST_REDIS_CLUSTER === 'true';

/** A per-stack namespace: its tenant slug and its own queue prefix (Redis is shared by every test). */
export function namespace(label: string) {
  const id = randomBytes(4).toString('hex');
  return { slug: `${label}-${id}`, queuePrefix: `{test-${label}-${id}}` };
}

/** The environment a test deployment runs with, as strings (it is also handed to child processes). */
export function testEnv(opts: {
  port: number;
  queuePrefix: string;
  databaseUrl: string;
  sealKeys?: string;
  extra?: Record<string, string>;
}): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    HOST: '127.0.0.1',
    PORT: String(opts.port),
    PUBLIC_URL: `http://127.0.0.1:${opts.port}`,
    // The app role of the test's own database; no MIGRATE_DATABASE_URL: it was cloned migrated, the
    // apps never hold the owner.
    DATABASE_URL: opts.databaseUrl,
    DATABASE_POOL_MAX: '5',
    REDIS_URL: TEST_REDIS_URL,
    REDIS_CLUSTER: String(TEST_REDIS_CLUSTER),
    QUEUE_PREFIX: opts.queuePrefix,
    SEAL_KEYS: opts.sealKeys ?? `k1:${generateKey()}`,
    ALLOW_INSECURE_ISSUERS: 'true',
    ENABLE_TEST_TOOLS: 'true',
    CALL_WAIT_MS: '15000',
    JOB_BACKOFF_MS: '200',
    RECONCILE_INTERVAL_MS: '300',
    RECONCILE_AFTER_MS: '500',
    SHUTDOWN_GRACE_MS: '5000',
    // Many APIs run at once in tests: no fixed metrics port (production-build.test.ts picks free ones).
    METRICS_PORT: '0',
    // Background jobs that write rows on their own clock: off unless a test of them turns them on.
    AUDIT_CHECKPOINT_INTERVAL_MS: '0',
    RETENTION_INTERVAL_MS: '0',
    ...opts.extra,
  };
}

export const configFrom = (env: Record<string, string>): Config => loadConfig(env);
