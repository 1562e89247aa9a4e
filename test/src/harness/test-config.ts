import { randomBytes } from 'node:crypto';
import { loadConfig, type Config } from '@mcprt/config';
import { generateKey } from '@mcprt/keyring';

/**
 * The test database as its owner (a superuser here): migrations (global setup), test setup and
 * inspection. Never handed to an API, worker or CLI under test.
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

/** A per-test namespace: its own tenant slug and queue prefix, so files run in parallel and leave nothing shared. */
export function namespace(label: string) {
  const id = randomBytes(4).toString('hex');
  return { slug: `${label}-${id}`, queuePrefix: `{test-${label}-${id}}` };
}

/** The environment a test deployment runs with, as strings (it is also handed to child processes). */
export function testEnv(opts: { port: number; queuePrefix: string; sealKeys?: string; extra?: Record<string, string> }): Record<string, string> {
  return {
    NODE_ENV: 'test',
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    HOST: '127.0.0.1',
    PORT: String(opts.port),
    PUBLIC_URL: `http://127.0.0.1:${opts.port}`,
    // The app role; no MIGRATE_DATABASE_URL: the global setup migrated, the apps never hold the owner.
    DATABASE_URL: TEST_APP_DATABASE_URL,
    DATABASE_POOL_MAX: '5',
    REDIS_URL: TEST_REDIS_URL,
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
    // Background jobs that act on every tenant of the shared test database: off unless a test (with its own database) turns them on.
    AUDIT_CHECKPOINT_INTERVAL_MS: '0',
    RETENTION_INTERVAL_MS: '0',
    ...opts.extra,
  };
}

export const configFrom = (env: Record<string, string>): Config => loadConfig(env);
