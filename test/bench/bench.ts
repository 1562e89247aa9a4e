/**
 * Throughput benchmark: MCP tools/call end to end (client → API over loopback HTTP → BullMQ →
 * a separate worker process → Postgres → completion bell → API → client) against a baseline of bare
 * BullMQ (no-op processor) on the same Redis, in the same run.
 *
 * As deployed: the API and the worker are their own OS processes, started from their real entry
 * points (`apps/{api,worker}/src/main.ts`, LOG_LEVEL warn); this process holds the load clients and
 * the dev IdP(s). By default (BENCH_AUTH=builtin) the bench tenant is what new tenants are:
 * its own authorization server, federated to a dev IdP, and each user's access token comes from the
 * real OAuth flow of that AS (./builtin-tokens.ts), verified in-process by the API.
 *
 * A shared machine's speed drifts over minutes, so the run alternates the two
 * measurements: BENCH_ROUNDS rounds of (bare BullMQ, then end to end), one ratio per round; the last
 * line gives the medians.
 *
 * Run: `pnpm bench`. Env overrides:
 *   BENCH_ROUNDS       rounds of (bare, e2e) (default 3)
 *   BENCH_CALLS        measured e2e calls per round (default 2000), after BENCH_BARE_WARMUP_ROUNDS
 *                      unmeasured bare rounds (default 4) and BENCH_WARMUP calls (default 4000)
 *   BENCH_CONCURRENCY  e2e calls in flight (default 64: enough to keep both cores busy, like the bare
 *                      run, which has all its jobs in Redis at once; fewer leave the path latency-bound), spread over BENCH_CLIENTS clients (default 64)
 *   BENCH_CLIENT       raw (default: keep-alive JSON-RPC poster on plain sockets) or sdk (the official MCP SDK Client)
 *   BENCH_BARE_JOBS    bare BullMQ jobs per round (default 5000); BENCH_BARE_ADD=single adds them one by one
 *                      (BENCH_CONCURRENCY in flight, like the API) instead of addBulk chunks of 250
 *   BENCH_WORKER_CONCURRENCY  both workers' concurrency (default 16, the config default)
 *   BENCH_DB_POOL_MAX  DATABASE_POOL_MAX of the API and the worker (default: the harness's 5)
 *   BENCH_API_PROCESSES  API replicas the clients spread over (default 1)
 *   BENCH_PROTOCOL     the MCP revision the clients speak: 2026-07-28 (default; per-request `_meta`
 *                      envelope and standard headers, the SDK v2 client for BENCH_CLIENT=sdk) or a 2025
 *                      revision (2025-11-25, 2025-06-18, 2025-03-26; the SDK v1 client for BENCH_CLIENT=sdk)
 *   BENCH_METHOD       call (default) or ping: a request that does no work instead of `tools/call`, the
 *                      cost of the front alone (HTTP, bearer check, SDK; no database, queue or worker):
 *                      `ping` in a 2025 revision, `server/discover` in 2026-07-28 (which removed `ping`)
 *   BENCH_AUDIT_CHECKPOINT_MS  the workers' audit checkpointer interval (default 1000; 0 = off)
 *   BENCH_AUTH         builtin (default): a built-in AS tenant; the users sign in through its OAuth flow
 *                      (discovery, dynamic registration, code + PKCE, login at the dev IdP, consent) and
 *                      their 600 s tokens are refreshed between phases; external: the tenant trusts the
 *                      harness's dev IdP, which mints 1 h tokens directly (the mode before tenants had their own authorization server)
 *   BENCH_TOKEN_REFRESH_S  builtin only: refresh the tokens once they are this old (default: half their
 *                      lifetime); between phases once half as old. 0 refreshes at every phase (the smoke test)
 *   BENCH_DATABASE_URL the database the run drops, re-creates and uses (default: TEST_DATABASE_URL's
 *                      server, database mcprt_bench)
 *   BENCH_CPU_PROF=<dir>  write bench-<pid>.cpuprofile (this process, first round's e2e only), and
 *                      api-<pid>.cpuprofile and worker-<pid>.cpuprofile (whole process lives, via
 *                      ./cpu-prof.mjs); open in DevTools
 *   BENCH_OTEL=on      tracing on in the API and the worker (OTEL_TRACES_EXPORTER=otlp, http/protobuf, the
 *                      default batch settings, every call sampled) exporting to a sink in this process
 *                      that reads and drops the requests (a collector's cost is not measured)
 * Exit 1 when more than 1% of the measured calls fail. The last line is machine-readable (medians
 * over the rounds; latency percentiles over all measured calls):
 *   e2e_calls_per_s=<n> bare_bullmq_jobs_per_s=<n> ratio=<e2e/bare> p50_ms=<n> p99_ms=<n>
 */
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';
import { availableParallelism } from 'node:os';
import { performance } from 'node:perf_hooks';
import { createDb, ensureDatabase, runMigrations } from '@mcprt/db';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { startStack, type Stack } from '../src/harness/stack.js';
import { appUrlOf, TEST_DATABASE_URL, TEST_REDIS_URL } from '../src/harness/test-config.js';
import { spawnApp, type AppProcess } from '../src/harness/app-process.js';
import { RawHttpConnection } from './raw-http.js';
import { freePort } from '../src/harness/free-port.js';
import { startBuiltinTenant } from '../src/harness/builtin-tenant.js';
import { BuiltinTokens, jwtClaims } from './builtin-tokens.js';

const envInt = (name: string, def: number, min = 1): number => {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return def;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name} must be an integer >= ${min} (got ${raw})`);
  return n;
};

const ROUNDS = envInt('BENCH_ROUNDS', 3);
const CALLS = envInt('BENCH_CALLS', 2000);
const CONCURRENCY = envInt('BENCH_CONCURRENCY', 64);
const WARMUP = envInt('BENCH_WARMUP', 4000, 0);
const BARE_WARMUP_ROUNDS = envInt('BENCH_BARE_WARMUP_ROUNDS', 4, 0);
const CLIENTS = envInt('BENCH_CLIENTS', 64);
/** API replicas (processes) the load is spread over. */
const API_PROCESSES = envInt('BENCH_API_PROCESSES', 1);
const METHOD = process.env.BENCH_METHOD === 'ping' ? 'ping' : 'call';
const PROTOCOLS = ['2026-07-28', '2025-11-25', '2025-06-18', '2025-03-26'] as const;
const PROTOCOL = (process.env.BENCH_PROTOCOL || '2026-07-28') as (typeof PROTOCOLS)[number];
if (!PROTOCOLS.includes(PROTOCOL)) throw new Error(`BENCH_PROTOCOL must be one of ${PROTOCOLS.join(', ')}`);
const MODERN = PROTOCOL === '2026-07-28';
/** The official client for BENCH_CLIENT=sdk and the correctness probe: v2 for 2026-07-28, v1 for 2025. */
const SDK_KIND = MODERN ? 'v2' : 'v1';
const CLIENT_KIND = process.env.BENCH_CLIENT === 'sdk' ? 'sdk' : 'raw';
const BARE_JOBS = envInt('BENCH_BARE_JOBS', 5000);
/** `bulk`: addBulk in chunks of 250 (default); `single`: one queue.add per job, BENCH_CONCURRENCY in flight (as the API adds). */
const BARE_ADD = process.env.BENCH_BARE_ADD === 'single' ? 'single' : 'bulk';
/** Optional: DATABASE_POOL_MAX for the API and the worker (the harness default is 5). */
const DB_POOL_MAX = process.env.BENCH_DB_POOL_MAX ? String(envInt('BENCH_DB_POOL_MAX', 5)) : undefined;
/** One constant for both sides: the e2e worker process gets it as WORKER_CONCURRENCY, the bare Worker as `concurrency`. */
const WORKER_CONCURRENCY = envInt('BENCH_WORKER_CONCURRENCY', 16);
const PENDING_CAP = 1000;
/**
 * A database of its own, dropped and re-created at every run: each run starts from the same empty
 * tables (a shared, growing test database — with autovacuum off, as on these machines — made runs
 * slower one after another).
 */
const BENCH_DATABASE_URL =
  process.env.BENCH_DATABASE_URL ??
  (() => {
    const u = new URL(TEST_DATABASE_URL);
    u.pathname = '/mcprt_bench';
    return u.toString();
  })();
const USERS = ['alice', 'bob', 'carol'] as const; // the accounts startStack's dev IdP knows (and the built-in tenant's, below)
const AUTHS = ['builtin', 'external'] as const;
const AUTH = (process.env.BENCH_AUTH || 'builtin') as (typeof AUTHS)[number];
if (!AUTHS.includes(AUTH)) throw new Error(`BENCH_AUTH must be one of ${AUTHS.join(', ')}`);
const TOKEN_REFRESH_S = process.env.BENCH_TOKEN_REFRESH_S ? envInt('BENCH_TOKEN_REFRESH_S', 0, 0) : undefined;
const CALL_TIMEOUT_MS = 30_000;
const ERROR_BUDGET = 0.01;

const log = (line: string) => process.stdout.write(`${line}\n`);
const round = (n: number, digits = 0) => {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
};
/** Nearest-rank percentile of an ascending array. */
const pct = (sorted: number[], p: number) =>
  sorted.length ? sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]! : NaN;
const mean = (xs: number[]) => (xs.length ? xs.reduce((a, b) => a + b, 0) / xs.length : NaN);
const median = (xs: number[]) =>
  pct(
    [...xs].sort((a, b) => a - b),
    50,
  );

async function freshDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error('BENCH_DATABASE_URL: database name must be [A-Za-z0-9_]+');
  u.pathname = '/postgres';
  const admin = createDb(u.toString(), { max: 1 });
  try {
    await admin.sql.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.close();
  }
  await ensureDatabase(url);
}

async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}

/** CPU seconds the Redis server has used (all its clients). */
async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const num = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return num('used_cpu_sys') + num('used_cpu_user');
}

/** Baseline: bare BullMQ on the same Redis, no-op processor, same worker concurrency and job options. */
async function bareBullmq(jobs: number, concurrency: number): Promise<{ jobsPerS: number; ms: number; cpuMsPerJob: number }> {
  const prefix = `{bench-bare-${randomBytes(4).toString('hex')}}`;
  const name = 'bare';
  const qConn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const wConn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(name, {
    connection: qConn,
    prefix,
    // The same options the API's producer uses, so the Lua scripts do the same bookkeeping.
    defaultJobOptions: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600, count: 50_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  let done = 0;
  let failed = 0;
  let resolveAll!: () => void;
  const allDone = new Promise<void>((r) => (resolveAll = r));
  const worker = new Worker(name, async () => 'ok', { connection: wConn, prefix, concurrency, autorun: false });
  worker.on('completed', () => {
    if (++done + failed === jobs) resolveAll();
  });
  worker.on('failed', () => {
    if (done + ++failed === jobs) resolveAll();
  });
  worker.on('error', () => {});
  queue.on('error', () => {});
  try {
    void worker.run();
    await worker.waitUntilReady();
    const redisCpu0 = await redisCpu(qConn);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (BARE_ADD === 'bulk') {
      const chunk = 250;
      for (let i = 0; i < jobs; i += chunk) {
        const n = Math.min(chunk, jobs - i);
        await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name, data: { i: i + k, v: 1 } })));
      }
    } else {
      let next = 0;
      const adder = async () => {
        for (let i = next++; i < jobs; i = next++) await queue.add(name, { i, v: 1 }, { jobId: `j${i}` });
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, adder));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      allDone,
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`bare BullMQ: only ${done}/${jobs} done after 60 s`)), 60_000))),
    ]);
    clearTimeout(timer);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6 + ((await redisCpu(qConn)) - redisCpu0);
    if (failed) throw new Error(`bare BullMQ: ${failed} jobs failed`);
    return { jobsPerS: (jobs / ms) * 1000, ms, cpuMsPerJob: (cpuS * 1000) / jobs };
  } finally {
    await worker.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    await deleteKeys(qConn, `${prefix}:*`).catch(() => undefined);
    await qConn.quit().catch(() => undefined);
    await wConn.quit().catch(() => undefined);
  }
}

interface RunStats {
  latencies: number[];
  errors: number;
  errorSamples: string[];
  callIds: string[];
  ms: number;
}

/** One way to send `tools/call`: the MCP SDK Client, or a plain keep-alive HTTP JSON-RPC poster. */
type Caller = { callTool(params: { name: string; arguments: Record<string, unknown> }, opts: { timeout: number }): Promise<unknown> };

/** The 2026-07-28 per-request envelope, in every request's `params._meta`. */
const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'mcprt-bench', version: '1' },
};

/**
 * The load generator's client (BENCH_CLIENT=raw, the default): JSON-RPC `tools/call` over HTTP/1.1
 * keep-alive on plain sockets (./raw-http.ts) to the same MCP endpoint, answering with the same
 * CallToolResult; a connection per call in flight. It spends a fraction of node:http's CPU per
 * request (and far less than the SDK client), which would otherwise be taken from the system under
 * test on the same cores. BENCH_CLIENT=sdk uses the official SDK Client instead.
 */
function rawCaller(url: string, tokenOf: () => string): Caller {
  const target = new URL(url);
  // One method and tool per run, so the standard headers are fixed per connection; the token is too
  // (a connection made with a token that was refreshed since is closed instead of reused).
  const method = METHOD === 'call' ? 'tools/call' : MODERN ? 'server/discover' : 'ping';
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL,
    ...(MODERN ? { 'mcp-method': method, ...(method === 'tools/call' ? { 'mcp-name': 'echo' } : {}) } : {}),
  };
  const idle: { conn: RawHttpConnection; token: string }[] = [];
  let id = 0;
  return {
    async callTool(params, opts) {
      const token = tokenOf();
      let held = idle.pop();
      while (held && held.token !== token) {
        held.conn.close();
        held = idle.pop();
      }
      held ??= { conn: new RawHttpConnection(target, { authorization: `Bearer ${token}`, ...headers }), token };
      const conn = held.conn;
      const timer = setTimeout(() => conn.close(), opts.timeout);
      try {
        const p = method === 'tools/call' ? params : {};
        const res = await conn.post(JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: MODERN ? { ...p, _meta: ENVELOPE } : p }));
        idle.push(held);
        const msg = JSON.parse(res.body) as { result?: unknown; error?: { message: string } };
        if (res.status !== 200 || !msg.result) throw new Error(`HTTP ${res.status}: ${msg.error?.message ?? 'no result'}`);
        return msg.result;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/** `count` tools/call echo with `concurrency` in flight, lane i on client i mod K. */
async function drive(clients: Caller[], count: number, concurrency: number): Promise<RunStats> {
  const stats: RunStats = { latencies: [], errors: 0, errorSamples: [], callIds: [], ms: 0 };
  let next = 0;
  const t0 = performance.now();
  const lane = async (laneNo: number) => {
    const client = clients[laneNo % clients.length]!;
    for (;;) {
      const i = next++;
      if (i >= count) return;
      const t = performance.now();
      try {
        const message = `x${i}`;
        const res = (await client.callTool({ name: 'echo', arguments: { message } }, { timeout: CALL_TIMEOUT_MS })) as CallToolResult;
        stats.latencies.push(performance.now() - t);
        if (METHOD === 'ping') continue; // answered `{}` (ping) or the server's capabilities (server/discover)
        const meta = res._meta?.['io.mcprt/call'] as { id?: string } | undefined;
        if (meta?.id) stats.callIds.push(meta.id);
        // Every answer is checked: this call's own message back, run by the worker.
        if (res.isError || (res.structuredContent as { message?: unknown } | undefined)?.message !== message) {
          stats.errors++;
          if (stats.errorSamples.length < 3) stats.errorSamples.push(JSON.stringify(res).slice(0, 200));
        }
      } catch (e) {
        stats.latencies.push(performance.now() - t);
        stats.errors++;
        if (stats.errorSamples.length < 3) stats.errorSamples.push(String(e).slice(0, 200));
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, (_, k) => lane(k)));
  stats.ms = performance.now() - t0;
  return stats;
}

/**
 * CPU seconds used so far by each part of the deployment, where it is cheap to tell: this process
 * (API + MCP clients), the worker process and the Postgres backends of each pool (Linux /proc), Redis
 * (INFO cpu: the whole server, so it includes anything else using it).
 */
async function cpuSnapshot(stack: Stack, pids: { api: number[]; worker: number | undefined }): Promise<Record<string, number>> {
  const ticks = (pid: number) => {
    try {
      const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
      return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, USER_HZ = 100 on Linux
    } catch {
      return NaN;
    }
  };
  const own = process.cpuUsage();
  const out: Record<string, number> = { 'load clients': (own.user + own.system) / 1e6 };
  if (pids.api.length) out[pids.api.length > 1 ? `api processes (${pids.api.length})` : 'api process'] = pids.api.reduce((a, pid) => a + ticks(pid), 0);
  if (pids.worker) out['worker process'] = ticks(pids.worker);
  try {
    const rows = await stack.db.sql<
      { pid: number; app: string }[]
    >`select pid, application_name as app from pg_stat_activity where datname = current_database() and application_name in ('mcprt-api', 'mcprt-worker')`;
    for (const r of rows) out[`pg backends of ${r.app}`] = (out[`pg backends of ${r.app}`] ?? 0) + (ticks(r.pid) || 0);
  } catch {
    /* not available */
  }
  const redis = new Redis(stack.config.REDIS_URL);
  try {
    out['redis server (all clients)'] = await redisCpu(redis);
  } finally {
    await redis.quit().catch(() => undefined);
  }
  return out;
}

/**
 * System calls so far, the load-independent half of the CPU figures: read/write calls of the API and
 * worker processes (Linux /proc/<pid>/io: syscr, syscw) and the reads/writes Redis processed (INFO
 * stats: all its clients, so exact only on a Redis of the bench's own, `TEST_REDIS_URL`).
 */
async function syscallSnapshot(stack: Stack, pids: { api: number[]; worker: number | undefined }): Promise<Record<string, number>> {
  const io = (pid: number, field: 'syscr' | 'syscw') => {
    try {
      return Number(new RegExp(`${field}: (\\d+)`).exec(readFileSync(`/proc/${pid}/io`, 'utf8'))?.[1] ?? NaN);
    } catch {
      return NaN;
    }
  };
  const out: Record<string, number> = {};
  for (const [name, list] of [
    ['api', pids.api],
    ['worker', pids.worker === undefined ? [] : [pids.worker]],
  ] as const) {
    out[`${name} read`] = list.reduce((a, pid) => a + io(pid, 'syscr'), 0);
    out[`${name} write`] = list.reduce((a, pid) => a + io(pid, 'syscw'), 0);
  }
  const redis = new Redis(stack.config.REDIS_URL);
  try {
    const info = await redis.info('stats');
    out['redis reads'] = Number(/total_reads_processed:(\d+)/.exec(info)?.[1] ?? NaN);
    out['redis writes'] = Number(/total_writes_processed:(\d+)/.exec(info)?.[1] ?? NaN);
  } finally {
    await redis.quit().catch(() => undefined);
  }
  return out;
}

/** Sample this process (API + clients) with the inspector; stop() writes a .cpuprofile for DevTools. */
async function startProfile() {
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 500 });
  await session.post('Profiler.start');
  return {
    async stop(file: string) {
      const { profile } = await session.post('Profiler.stop');
      writeFileSync(file, JSON.stringify(profile));
      session.disconnect();
      return file;
    },
  };
}

/** Where the time of the measured calls went, from the rows' own timestamps (Postgres clock, µs). */
async function phaseBreakdown(stack: Stack, tenantId: string, ids: string[]) {
  if (!ids.length) return undefined;
  const rows = await stack.db.sql<{ queue_ms: number; run_ms: number; total_ms: number }[]>`
    select extract(epoch from (started_at - created_at)) * 1000 as queue_ms,
           extract(epoch from (finished_at - started_at)) * 1000 as run_ms,
           extract(epoch from (finished_at - created_at)) * 1000 as total_ms
    from tool_calls where tenant_id = ${tenantId} and id = any(${ids}) and finished_at is not null and started_at is not null`;
  const q = rows.map((r) => Number(r.queue_ms)).sort((a, b) => a - b);
  const run = rows.map((r) => Number(r.run_ms)).sort((a, b) => a - b);
  const tot = rows.map((r) => Number(r.total_ms)).sort((a, b) => a - b);
  return { n: rows.length, q, run, tot };
}

async function main(): Promise<number> {
  const started = performance.now();
  await freshDatabase(BENCH_DATABASE_URL);
  await runMigrations(BENCH_DATABASE_URL, { appUrl: appUrlOf(BENCH_DATABASE_URL) });
  log(
    `bench: ${ROUNDS} rounds of ${BARE_JOBS} bare BullMQ jobs (${BARE_ADD === 'bulk' ? 'addBulk ×250' : `single adds, ${CONCURRENCY} in flight`}) then ${CALLS} e2e calls (MCP ${PROTOCOL}, ${CLIENT_KIND} client); ${CONCURRENCY} calls in flight over ${CLIENTS} MCP clients, users ${USERS.join('/')} (${AUTH === 'builtin' ? "tokens from the tenant's built-in AS" : "tokens minted by the tenant's external IdP"}); worker concurrency ${WORKER_CONCURRENCY} (both)`,
  );

  let stack: Stack | undefined;
  let builtinTenant: Awaited<ReturnType<typeof startBuiltinTenant>> | undefined;
  let builtinTokens: BuiltinTokens | undefined;
  const procs: { name: 'api' | 'worker'; p: AppProcess }[] = [];
  let exitCode = 0;
  const otel = process.env.BENCH_OTEL === 'on' ? await startOtlpSink() : undefined;
  try {
    stack = await startStack({
      label: 'bench',
      // The stack's tenant trusts the dev IdP's tokens (BENCH_AUTH=external); builtin mode adds a tenant of its own below.
      auth: 'external',
      // The run's own database, made above (dropped, re-created, migrated), not a clone of the template.
      database: {
        name: new URL(BENCH_DATABASE_URL).pathname.slice(1),
        ownerUrl: BENCH_DATABASE_URL,
        appUrl: appUrlOf(BENCH_DATABASE_URL),
        drop: async () => {},
      },
      api: 'none',
      worker: 'none',
      env: {
        DATABASE_URL: appUrlOf(BENCH_DATABASE_URL), // the processes run as the app role, as in production
        WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
        LOG_LEVEL: 'silent',
        // The audit checkpointer runs in the workers during the measurement (every second,
        // 60× more often than the default), on this run's own database.
        AUDIT_CHECKPOINT_INTERVAL_MS: process.env.BENCH_AUDIT_CHECKPOINT_MS ?? '1000',
        ...(DB_POOL_MAX ? { DATABASE_POOL_MAX: DB_POOL_MAX } : {}),
        ...(otel ? { OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: otel.url, OTEL_TRACES_SAMPLER: 'always_on' } : {}),
      },
    });
    if (stack.config.WORKER_CONCURRENCY !== WORKER_CONCURRENCY) throw new Error('worker concurrency mismatch');
    // The tenant under load. builtin: a second tenant, its own AS federated to a dev IdP that knows the
    // bench's users, set up the operator's way (`tenant set-idp --auth builtin`); external: the stack's.
    if (AUTH === 'builtin') {
      builtinTenant = await startBuiltinTenant(stack, 'as', ['whoami', 'web_search', 'echo'], {
        accounts: USERS.map((sub) => ({ sub, email: `${sub}@example.test`, name: sub })),
      });
    }
    const target = builtinTenant ?? { tenant: stack.tenant, mcpUrl: stack.mcpUrl };
    if (target.tenant.authMode !== AUTH) throw new Error(`the bench tenant is in ${target.tenant.authMode} mode, expected ${AUTH}`);
    // Before any request: the API caches the tenant (30 s) on first sight.
    // Limits high enough not to throttle the run: the per-user lease and rate checks still run per call
    // (their cost is what the bench measures), they just never refuse or delay.
    await stack.db
      .sql`update tenants set limits = limits || ${JSON.stringify({ pendingCap: PENDING_CAP, perUserConcurrency: PENDING_CAP, perUserRatePerMinute: 10_000_000 })}::jsonb where id = ${target.tenant.id}`;

    const profDir = process.env.BENCH_CPU_PROF;
    // `--cpu-prof` is refused in NODE_OPTIONS; a preload that drives the inspector does the same job.
    const profEnv = (name: string): Record<string, string> =>
      profDir ? { NODE_OPTIONS: `--import=${new URL('./cpu-prof.mjs', import.meta.url).href}`, BENCH_CPU_PROF_DIR: profDir, BENCH_CPU_PROF_NAME: name } : {};
    // API replicas: the same PUBLIC_URL (so the same token audience), each on its own port, as behind
    // a load balancer; the load clients spread their connections over them.
    const apiUrls: string[] = [];
    const apis: AppProcess[] = [];
    for (let i = 0; i < API_PROCESSES; i++) {
      const port = i === 0 ? stack.config.PORT : await freePort();
      const base = `http://127.0.0.1:${port}`;
      const api = spawnApp('api', stack.env, { LOG_LEVEL: 'warn', PORT: String(port), ...profEnv('api') }, { readyUrl: `${base}/readyz` });
      procs.push({ name: 'api', p: api });
      apis.push(api);
      apiUrls.push(`${base}${new URL(target.mcpUrl).pathname}`);
    }
    // The worker stays at info until ready: it logs its concurrency, checked below.
    const wp = spawnApp('worker', stack.env, profEnv('worker'));
    procs.push({ name: 'worker', p: wp });
    for (const { name, p } of procs) {
      let readyTimer: NodeJS.Timeout | undefined;
      await Promise.race([
        p.ready,
        new Promise<never>((_, rej) => (readyTimer = setTimeout(() => rej(new Error(`${name} not ready after 30 s: ${p.output().slice(-1000)}`)), 30_000))),
      ]).finally(() => clearTimeout(readyTimer));
    }
    // The worker logs its concurrency when ready: make sure it is the one the baseline used.
    const announced = /"concurrency":(\d+)/.exec(wp.output())?.[1];
    if (announced !== undefined && Number(announced) !== WORKER_CONCURRENCY)
      throw new Error(`worker runs with concurrency ${announced}, expected ${WORKER_CONCURRENCY}`);
    const pids = { api: apis.map((a) => a.child.pid!), worker: wp.child.pid };

    // Each user's current access token. builtin: signed in through the tenant's AS (the API at
    // PUBLIC_URL serves it) and refreshed before it expires; external: minted by the stack's dev IdP.
    let tokenOf: (user: number) => string;
    /** Between phases (never during a measured round unless a phase outlasts the margin): refresh tokens past half their refresh age. */
    let refreshBetweenPhases = async () => {};
    if (builtinTenant) {
      const tokens = await BuiltinTokens.signIn(builtinTenant.mcpUrl, USERS);
      builtinTokens = tokens;
      for (let i = 0; i < USERS.length; i++) {
        const c = jwtClaims(tokens.token(i));
        const aud = Array.isArray(c.aud) && c.aud.length === 1 ? c.aud[0] : c.aud;
        if (c.iss !== builtinTenant.issuer || aud !== builtinTenant.mcpUrl)
          throw new Error(`${USERS[i]}'s token: iss ${String(c.iss)}, aud ${String(c.aud)}; expected the tenant's AS and MCP URL`);
      }
      const refreshAfterMs = TOKEN_REFRESH_S !== undefined ? TOKEN_REFRESH_S * 1000 : (tokens.lifetimeSeconds * 1000) / 2;
      tokens.startBackground(refreshAfterMs, (e) => log(`token refresh failed: ${e instanceof Error ? e.message : String(e)}`));
      refreshBetweenPhases = () => tokens.refreshOlderThan(refreshAfterMs / 2);
      tokenOf = (i) => tokens.token(i);
      log(
        `auth: ${USERS.length} users signed in at ${builtinTenant.issuer} (SDK auth(): DCR, code + PKCE S256, dev IdP login, consent); access tokens ${tokens.lifetimeSeconds} s, refreshed once ${refreshAfterMs / 1000} s old (between phases from ${refreshAfterMs / 2000} s)`,
      );
    } else {
      const tokens = await Promise.all(USERS.map((u) => stack!.token(u, { ttlSeconds: 3600 })));
      tokenOf = (i) => tokens[i % tokens.length]!;
    }
    const clients: Caller[] = [];
    if (CLIENT_KIND === 'sdk') {
      // builtin: each request carries the user's current token (refreshed ones too).
      const fetchAs =
        (user: number): typeof fetch =>
        (url, init) => {
          const headers = new Headers(init?.headers);
          headers.set('authorization', `Bearer ${tokenOf(user)}`);
          return fetch(url, { ...init, headers });
        };
      for (let i = 0; i < CLIENTS; i += 8) {
        clients.push(
          ...(await Promise.all(
            Array.from({ length: Math.min(8, CLIENTS - i) }, (_, k) => {
              const user = (i + k) % USERS.length;
              return stack!.client(tokenOf(user), { kind: SDK_KIND, url: target.mcpUrl, ...(builtinTokens ? { fetch: fetchAs(user) } : {}) });
            }),
          )),
        );
      }
    } else {
      // Correctness once with the official SDK client, then the light poster for the load.
      const sdk = await stack.client(tokenOf(0), { kind: SDK_KIND, url: target.mcpUrl });
      if (sdk.protocolVersion !== PROTOCOL && MODERN) throw new Error(`SDK client negotiated ${sdk.protocolVersion}, expected ${PROTOCOL}`);
      const probe = CallToolResultSchema.parse(await sdk.callTool({ name: 'echo', arguments: { message: 'probe' } }));
      if (probe.isError) throw new Error(`SDK client probe failed: ${JSON.stringify(probe.content)}`);
      for (let i = 0; i < CLIENTS; i++) {
        const user = i % USERS.length;
        clients.push(rawCaller(apiUrls[i % apiUrls.length]!, () => tokenOf(user)));
      }
    }

    // Warm-up, both sides, to steady state (both speed up markedly over their first thousands of jobs
    // and calls as the JIT of each process settles): BARE_WARMUP_ROUNDS unmeasured bare rounds, WARMUP calls.
    const bw = [];
    for (let i = 0; i < BARE_WARMUP_ROUNDS; i++) bw.push(round((await bareBullmq(BARE_JOBS, WORKER_CONCURRENCY)).jobsPerS));
    if (WARMUP > 0) {
      await refreshBetweenPhases();
      const w = await drive(clients, WARMUP, Math.min(CONCURRENCY, WARMUP));
      log(
        `warm-up: bare BullMQ ${bw.join(' → ')} jobs/s; ${WARMUP} calls at ${round((WARMUP / w.ms) * 1000)} calls/s, ${w.errors} errors${w.errorSamples.length ? ` (e.g. ${w.errorSamples[0]})` : ''}`,
      );
    }

    // Rounds: bare BullMQ (the stack idle beside it), then the end-to-end run.
    const rounds: { bare: number; e2e: number }[] = [];
    const all: RunStats = { latencies: [], errors: 0, errorSamples: [], callIds: [], ms: 0 };
    const cpuSum: Record<string, number> = {};
    const sysSum: Record<string, number> = {};
    for (let r = 1; r <= ROUNDS; r++) {
      const bare = await bareBullmq(BARE_JOBS, WORKER_CONCURRENCY);
      await refreshBetweenPhases();
      const cpu0 = await cpuSnapshot(stack, pids);
      const sys0 = await syscallSnapshot(stack, pids);
      const prof = profDir && r === 1 ? await startProfile() : undefined;
      const s = await drive(clients, CALLS, CONCURRENCY);
      if (prof) log(`  CPU profile of this process, round 1: ${await prof.stop(join(profDir!, `bench-${process.pid}.cpuprofile`))}`);
      const cpu1 = await cpuSnapshot(stack, pids);
      const sys1 = await syscallSnapshot(stack, pids);
      for (const k of Object.keys(sys1)) sysSum[k] = (sysSum[k] ?? 0) + sys1[k]! - (sys0[k] ?? 0);
      for (const k of Object.keys(cpu1)) {
        const d = cpu1[k]! - (cpu0[k] ?? 0);
        if (Number.isFinite(d)) cpuSum[k] = (cpuSum[k] ?? 0) + d;
      }
      all.latencies.push(...s.latencies);
      all.callIds.push(...s.callIds);
      all.errors += s.errors;
      all.errorSamples.push(...s.errorSamples.slice(0, 3 - all.errorSamples.length));
      all.ms += s.ms;
      const e2e = (CALLS / s.ms) * 1000;
      rounds.push({ bare: bare.jobsPerS, e2e });
      log(
        `round ${r}: bare BullMQ ${round(bare.jobsPerS)} jobs/s (CPU per job, this process + redis: ${round(bare.cpuMsPerJob, 3)} ms) | e2e ${round(e2e, 1)} calls/s, ${s.errors} errors | ratio ${(e2e / bare.jobsPerS).toFixed(3)}`,
      );
    }
    const total = CALLS * ROUNDS;
    const sorted = [...all.latencies].sort((a, b) => a - b);
    const [p50, p90, p99] = [pct(sorted, 50), pct(sorted, 90), pct(sorted, 99)];
    log(
      `e2e: ${total} calls, errors ${all.errors} (${round((100 * all.errors) / total, 2)}%)${all.errorSamples.length ? `, e.g. ${all.errorSamples.join(' | ')}` : ''}`,
    );
    log(
      `e2e latency ms: p50 ${round(p50, 1)}  p90 ${round(p90, 1)}  p99 ${round(p99, 1)}  max ${round(sorted.at(-1) ?? NaN, 1)}  mean ${round(mean(sorted), 1)}`,
    );
    const cpuParts = Object.entries(cpuSum);
    const cpuTotal = cpuParts.reduce((a, [, v]) => a + v, 0);
    log(
      `  CPU per call: ${cpuParts.map(([k, v]) => `${k} ${round((v * 1000) / total, 2)} ms`).join(', ')}; total ${round((cpuTotal * 1000) / total, 2)} ms (${round(cpuTotal / (all.ms / 1000), 2)} cores busy of ${availableParallelism()})`,
    );

    log(
      `  syscalls per call: ${Object.entries(sysSum)
        .map(([k, v]) => `${k} ${round(v / total, 2)}`)
        .join(', ')}`,
    );

    const ph = await phaseBreakdown(stack, target.tenant.id, all.callIds);
    if (ph) {
      const fmt = (xs: number[]) => `mean ${round(mean(xs), 1)} p50 ${round(pct(xs, 50), 1)} p99 ${round(pct(xs, 99), 1)}`;
      const rest = mean(sorted) - mean(ph.tot);
      log(`  row timestamps (${ph.n} calls): queued→started ${fmt(ph.q)} | started→finished ${fmt(ph.run)} | created→finished ${fmt(ph.tot)}`);
      log(`  outside the row's life (auth, admission, HTTP, bell, result read): mean ≈ ${round(rest, 1)} ms of ${round(mean(sorted), 1)} ms`);
    }

    const e2ePerS = median(rounds.map((r) => r.e2e));
    const barePerS = median(rounds.map((r) => r.bare));
    const ratio = e2ePerS / barePerS;
    log(
      `ratio e2e/bare per round ${rounds.map((r) => (r.e2e / r.bare).toFixed(3)).join(' ')}; of the medians ${ratio.toFixed(3)} (target ≥ 0.15); total bench time ${round((performance.now() - started) / 1000, 1)} s`,
    );
    if (builtinTokens) log(`auth: tokens refreshed ${builtinTokens.refreshes} times during the run`);
    if (all.errors > total * ERROR_BUDGET) {
      log(`FAIL: ${all.errors} of ${total} calls errored (> ${ERROR_BUDGET * 100}%)`);
      exitCode = 1;
    }
    if (otel) log(`otel sink: ${otel.stats.requests} export requests, ${Math.round(otel.stats.bytes / 1024)} KiB`);
    log(
      `e2e_calls_per_s=${round(e2ePerS, 1)} bare_bullmq_jobs_per_s=${round(barePerS)} ratio=${ratio.toFixed(3)} p50_ms=${round(p50, 1)} p99_ms=${round(p99, 1)}`,
    );
  } finally {
    // SIGTERM, as an orchestrator would: both must drain and exit 0 within 15 s.
    for (const { name, p } of procs.reverse()) {
      if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
      p.child.kill('SIGTERM');
      const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
      if (code === 'timeout') {
        process.stderr.write(`${name} did not exit within 15 s of SIGTERM; killing it\n`);
        p.child.kill('SIGKILL');
        await p.exited;
        exitCode = 1;
      } else if (code !== 0) {
        process.stderr.write(`${name} exited with ${code} on SIGTERM: ${p.output().slice(-1000)}\n`);
        exitCode = 1;
      }
    }
    builtinTokens?.stop();
    await builtinTenant?.idp.close().catch(() => undefined);
    await stack?.close();
  }
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    process.stderr.write(`bench failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);

/** BENCH_OTEL=on: where the processes export their spans; reads each request whole and answers 200. */
async function startOtlpSink() {
  const { createServer } = await import('node:http');
  const stats = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (stats.bytes += c.length));
    req.on('end', () => {
      stats.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, stats };
}
