/**
 * The bench's settings, read once from the environment (see the header of ./bench.ts for what each
 * one means).
 */
import { TEST_DATABASE_URL } from '../src/harness/test-config.js';

export const envInt = (name: string, def: number, min = 1): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min} (got ${raw})`);
  return n;
};

const MODES = ['throughput', 'latency'] as const;
export const MODE = (process.env.BENCH_MODE || 'throughput') as (typeof MODES)[number];
if (!MODES.includes(MODE)) throw new Error(`BENCH_MODE must be one of ${MODES.join(', ')}`);
export const ROUNDS = envInt('BENCH_ROUNDS', 3);
export const CALLS = envInt('BENCH_CALLS', 2000);
export const CONCURRENCY = envInt('BENCH_CONCURRENCY', 64);
export const WARMUP = envInt('BENCH_WARMUP', 4000, 0);
export const BARE_WARMUP_ROUNDS = envInt('BENCH_BARE_WARMUP_ROUNDS', 4, 0);
export const CLIENTS = envInt('BENCH_CLIENTS', 64);
/** API replicas (processes) the load is spread over. */
export const API_PROCESSES = envInt('BENCH_API_PROCESSES', 1);
/** Worker processes taking the queue's jobs. */
export const WORKER_PROCESSES = envInt('BENCH_WORKER_PROCESSES', 1);
export const METHOD = process.env.BENCH_METHOD === 'ping' ? 'ping' : 'call';
const PROTOCOLS = ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26'] as const;
export type Protocol = (typeof PROTOCOLS)[number];
export const PROTOCOL = (process.env.BENCH_PROTOCOL || '2026-07-28') as Protocol;
if (!PROTOCOLS.includes(PROTOCOL)) throw new Error(`BENCH_PROTOCOL must be one of ${PROTOCOLS.join(', ')}`);
export const MODERN = PROTOCOL === '2026-07-28';
/** The official client for BENCH_CLIENT=sdk and the correctness probe: v2 for 2026-07-28, v1 for 2025. */
export const SDK_KIND = MODERN ? 'v2' : 'v1';
export const CLIENT_KIND = process.env.BENCH_CLIENT === 'sdk' ? 'sdk' : 'raw';
export const BARE_JOBS = envInt('BENCH_BARE_JOBS', 5000);
/** `bulk`: addBulk in chunks of 250 (default); `single`: one queue.add per job, BENCH_CONCURRENCY in flight (as the API adds). */
export const BARE_ADD = process.env.BENCH_BARE_ADD === 'single' ? 'single' : 'bulk';
/** Optional: DATABASE_POOL_MAX for the API and the worker (the harness default is 5). */
export const DB_POOL_MAX = process.env.BENCH_DB_POOL_MAX ? String(envInt('BENCH_DB_POOL_MAX', 5)) : undefined;
/** One constant for both sides: the e2e worker process gets it as WORKER_CONCURRENCY, the bare Worker as `concurrency`. */
export const WORKER_CONCURRENCY = envInt('BENCH_WORKER_CONCURRENCY', 16);
export const PENDING_CAP = 1000;
/** Latency mode: calls measured one at a time, per target, after BENCH_LATENCY_WARMUP unmeasured ones. */
export const LATENCY_SAMPLES = envInt('BENCH_LATENCY_SAMPLES', 2000);
export const LATENCY_WARMUP = envInt('BENCH_LATENCY_WARMUP', 200, 0);
/** Latency mode: seconds of open-loop load per target (at half the e2e capacity measured in the run). */
export const OPEN_LOOP_S = envInt('BENCH_OPEN_LOOP_S', 10);
/**
 * A database of its own, dropped and re-created at every run: each run starts from the same empty
 * tables (a shared, growing test database — with autovacuum off, as on these machines — made runs
 * slower one after another).
 */
export const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ??
  (() => {
    const u = new URL(TEST_DATABASE_URL);
    u.pathname = '/mcprt_bench';
    return u.toString();
  })();
export const USERS = ['alice', 'bob', 'carol'] as const; // the accounts startStack's dev IdP knows (and the built-in tenant's, below)
const AUTHS = ['builtin', 'external'] as const;
export const AUTH = (process.env.BENCH_AUTH || 'builtin') as (typeof AUTHS)[number];
if (!AUTHS.includes(AUTH)) throw new Error(`BENCH_AUTH must be one of ${AUTHS.join(', ')}`);
export const TOKEN_REFRESH_S = process.env.BENCH_TOKEN_REFRESH_S ? envInt('BENCH_TOKEN_REFRESH_S', 0, 0) : undefined;
export const CALL_TIMEOUT_MS = 30_000;
export const ERROR_BUDGET = 0.01;
