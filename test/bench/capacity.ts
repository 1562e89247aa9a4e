/**
 * `pnpm bench:capacity`: the per-call inputs of capacity planning, measured on the end-to-end path
 * (the same deployment as `pnpm bench`: ./deployment.ts, same env settings such as BENCH_AUTH,
 * BENCH_PROTOCOL, BENCH_DATABASE_URL):
 *
 * 1. Redis memory per queued job: the API with no worker running takes CAPACITY_QUEUED calls
 *    (64 in flight; each answers "still running" after CALL_WAIT_MS = 200 ms and its job stays
 *    queued), then the memory of every key under the deployment's prefix (MEMORY USAGE, exact: the
 *    shared server's INFO used_memory is printed beside it, but other users of the server move it).
 * 2. Redis memory per retained completed job: a worker is started, drains the queue; the same sum
 *    again (the queue keeps completed jobs: removeOnComplete age 1 h, count 50 000).
 * 3. Postgres per call: CAPACITY_CALLS calls after a warm-up, until every call row is final; WAL
 *    bytes, records and full-page-image bytes of this database's transactions (pg_walinspect over
 *    the run's LSN range; the extension is created in the run's own database), and rows inserted /
 *    updated / deleted per table (pg_stat_user_tables of the run's own database; statistics reach
 *    the view asynchronously, so it is read after the backends' idle flush, 11 s).
 * 4. With CAPACITY_SWEEP=1 (default): throughput (calls/s at BENCH_CONCURRENCY, median of
 *    CAPACITY_ROUNDS rounds of BENCH_CALLS after BENCH_WARMUP) and CPU per call, for 1 and 2 API
 *    processes × 1 and 2 worker processes, a fresh deployment each.
 *
 * Machine-readable lines: `capacity_redis queued_job_bytes=.. retained_job_bytes=..`,
 * `capacity_pg wal_bytes_per_call=.. wal_records_per_call=.. fpi_bytes_per_call=.. rows_ins_per_call=..
 * rows_upd_per_call=.. rows_del_per_call=..`, `capacity_table <name> ins=.. upd=.. del=..` (per
 * call), `capacity_storage <table> bytes_per_row=..` (heap + indexes + TOAST per live row, tables with at
 * least CAPACITY_CALLS rows), `capacity_throughput apis=<n> workers=<n> calls_per_s=.. cpu_ms_per_call=..`.
 */
import { performance } from 'node:perf_hooks';
import { createDb } from '@mcprt/db';
import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { startDeployment, type Deployment } from './deployment.js';
import { drive } from './load.js';
import { cpuSnapshot } from './probes.js';
import { BENCH_DATABASE_URL, CALLS, CONCURRENCY, envInt, WARMUP } from './settings.js';
import { log, median, round, sleep } from './stats.js';

const QUEUED = envInt('CAPACITY_QUEUED', 2000);
const PG_CALLS = envInt('CAPACITY_CALLS', 5000);
const ROUNDS = envInt('CAPACITY_ROUNDS', 3);
const SWEEP = process.env.CAPACITY_SWEEP !== '0';
/** PostgreSQL flushes an idle backend's pending statistics after 10 s (PGSTAT_IDLE_INTERVAL). */
const STATS_FLUSH_MS = 11_000;

/** Bytes of every key under the prefix (MEMORY USAGE … SAMPLES 0: every element counted) and the server's used_memory. */
async function redisBytes(redis: Redis, prefix: string): Promise<{ keys: number; bytes: number; usedMemory: number }> {
  let cursor = '0';
  let bytes = 0;
  let keys = 0;
  do {
    const [next, batch] = await redis.scan(cursor, 'MATCH', `${prefix}:*`, 'COUNT', 1000);
    cursor = next;
    for (const k of batch) {
      bytes += Number((await redis.call('MEMORY', 'USAGE', k, 'SAMPLES', '0')) ?? 0);
      keys++;
    }
  } while (cursor !== '0');
  const usedMemory = Number(/used_memory:(\d+)/.exec(await redis.info('memory'))?.[1] ?? NaN);
  return { keys, bytes, usedMemory };
}

async function waitAllFinal(d: Deployment, timeoutMs = 300_000): Promise<void> {
  const t0 = Date.now();
  for (;;) {
    const [row] = await d.stack.db.sql<{ n: number }[]>`select count(*)::int as n from tool_calls where status in ('queued', 'running')`;
    if (row!.n === 0) return;
    if (Date.now() - t0 > timeoutMs) throw new Error(`${row!.n} calls still pending after ${timeoutMs / 1000} s`);
    await sleep(200);
  }
}

/** Phases 1 and 2: Redis memory per queued and per retained completed job. */
async function redisPhase(d: Deployment): Promise<void> {
  const prefix = d.stack.config.QUEUE_PREFIX;
  const redis = new Redis(d.stack.config.REDIS_URL);
  const queue = new Queue(TOOL_CALLS_QUEUE, { connection: redis.duplicate(), prefix });
  try {
    const before = await redisBytes(redis, prefix);
    const waiting0 = await queue.getWaitingCount();
    const s = await drive(d.clients, QUEUED, CONCURRENCY);
    const queued = (await queue.getWaitingCount()) - waiting0;
    const atQueued = await redisBytes(redis, prefix);
    log(
      `redis: ${QUEUED} calls with no worker (${QUEUED - s.errors} answered with a result: expected none), ${queued} jobs waiting; keys under the prefix ${before.keys} → ${atQueued.keys}, bytes ${before.bytes} → ${atQueued.bytes}; server used_memory ${before.usedMemory} → ${atQueued.usedMemory}`,
    );
    await d.addWorkers(1);
    await waitAllFinal(d);
    const completed = await queue.getCompletedCount();
    const atDone = await redisBytes(redis, prefix);
    log(
      `redis: drained by one worker, ${completed} completed jobs retained; keys ${atDone.keys}, bytes ${atDone.bytes}; server used_memory ${atDone.usedMemory}`,
    );
    const perQueued = (atQueued.bytes - before.bytes) / Math.max(1, queued);
    const perRetained = (atDone.bytes - before.bytes) / Math.max(1, completed);
    log(`capacity_redis queued_job_bytes=${round(perQueued)} retained_job_bytes=${round(perRetained)}`);
  } finally {
    await queue.close();
    await redis.quit();
  }
}

type Table = { relname: string; ins: number; upd: number; del: number };

/**
 * WAL of this database's transactions between two LSNs, from the records themselves (pg_walinspect):
 * each record that touches a relation of this database (`rel <tablespace>/<database oid>/…` in its
 * block references) plus the other records of those transactions (commits). pg_stat_wal counts the
 * whole cluster, which other databases on a shared server move.
 */
async function walOfDatabase(owner: ReturnType<typeof createDb>, from: string, to: string) {
  const [db] = await owner.sql<{ oid: string }[]>`select oid::text from pg_database where datname = current_database()`;
  const [r] = await owner.sql<{ bytes: string; records: string; fpi: string }[]>`
    with w as (select * from pg_get_wal_records_info(${from}::pg_lsn, ${to}::pg_lsn)),
         mine as (select start_lsn, xid from w where block_ref like ${`%rel %/${db!.oid}/%`}),
         xids as (select distinct xid from mine where xid <> '0')
    select coalesce(sum(record_length), 0)::text as bytes, count(*)::text as records, coalesce(sum(fpi_length), 0)::text as fpi
    from w where start_lsn in (select start_lsn from mine) or xid in (select xid from xids)`;
  return { bytes: Number(r!.bytes), records: Number(r!.records), fpiBytes: Number(r!.fpi) };
}

/** Phase 3: WAL and rows per call. */
async function postgresPhase(d: Deployment): Promise<void> {
  const owner = createDb(BENCH_DATABASE_URL, { max: 1 });
  try {
    await owner.sql`create extension if not exists pg_walinspect`;
    const lsn = async () => (await owner.sql<{ l: string }[]>`select pg_current_wal_flush_lsn()::text as l`)[0]!.l;
    const clusterWal = async () => (await owner.sql<{ b: string }[]>`select wal_bytes::text as b from pg_stat_wal`)[0]!.b;
    const tables = async () =>
      new Map(
        (await owner.sql<Table[]>`select relname, n_tup_ins::float8 as ins, n_tup_upd::float8 as upd, n_tup_del::float8 as del from pg_stat_user_tables`).map(
          (t) => [t.relname, t],
        ),
      );
    if (WARMUP) await drive(d.clients, WARMUP, CONCURRENCY);
    await waitAllFinal(d);
    await sleep(STATS_FLUSH_MS); // the warm-up's statistics reach the view
    const t0 = await tables();
    const [l0, c0] = [await lsn(), await clusterWal()];
    const tr0 = performance.now();
    const s = await drive(d.clients, PG_CALLS, CONCURRENCY);
    await waitAllFinal(d);
    const runS = (performance.now() - tr0) / 1000;
    const [l1, c1] = [await lsn(), await clusterWal()];
    const wal = await walOfDatabase(owner, l0, l1);
    await sleep(STATS_FLUSH_MS);
    const t1 = await tables();
    const per = (n: number) => round(n / PG_CALLS, 2);
    log(
      `postgres: ${PG_CALLS} calls in ${round(runS, 1)} s (${s.errors} answered before their result); WAL of this database ${wal.bytes} bytes in ${wal.records} records (full-page images ${wal.fpiBytes} bytes); the whole cluster wrote ${Number(c1) - Number(c0)} bytes meanwhile`,
    );
    let ins = 0;
    let upd = 0;
    let del = 0;
    for (const [name, b] of t1) {
      const a = t0.get(name) ?? { ins: 0, upd: 0, del: 0 };
      const [di, du, dd] = [b.ins - a.ins, b.upd - a.upd, b.del - a.del];
      if (di || du || dd) log(`capacity_table ${name} ins=${per(di)} upd=${per(du)} del=${per(dd)}`);
      [ins, upd, del] = [ins + di, upd + du, del + dd];
    }
    // On-disk size per live row (heap + indexes + TOAST), what retention has to budget per call.
    const sizes = await owner.sql<{ relname: string; bytes: number; rows: number }[]>`
      select relname, pg_total_relation_size(relid)::float8 as bytes, n_live_tup::float8 as rows from pg_stat_user_tables where n_live_tup > 0`;
    for (const t of sizes)
      if (t1.has(t.relname) && t.rows >= PG_CALLS) log(`capacity_storage ${t.relname} bytes_per_row=${round(t.bytes / t.rows)} rows=${t.rows}`);
    log(
      `capacity_pg wal_bytes_per_call=${per(wal.bytes)} wal_records_per_call=${per(wal.records)} fpi_bytes_per_call=${per(wal.fpiBytes)} rows_ins_per_call=${per(ins)} rows_upd_per_call=${per(upd)} rows_del_per_call=${per(del)}`,
    );
  } finally {
    await owner.close();
  }
}

/** Phase 4: calls/s and CPU per call of one (APIs, workers) shape. */
async function throughputOf(apis: number, workers: number): Promise<void> {
  const d = await startDeployment({ apis, workers });
  try {
    if (WARMUP) await drive(d.clients, WARMUP, CONCURRENCY);
    const rates: number[] = [];
    let cpu = 0;
    for (let r = 0; r < ROUNDS; r++) {
      await d.refreshBetweenPhases();
      const c0 = await cpuSnapshot(d.stack, d.pids);
      const s = await drive(d.clients, CALLS, CONCURRENCY);
      const c1 = await cpuSnapshot(d.stack, d.pids);
      for (const k of Object.keys(c1)) if (Number.isFinite(c1[k]! - c0[k]!)) cpu += c1[k]! - c0[k]!;
      rates.push((CALLS / s.ms) * 1000);
    }
    log(
      `capacity_throughput apis=${apis} workers=${workers} calls_per_s=${round(median(rates), 1)} cpu_ms_per_call=${round((cpu * 1000) / (CALLS * ROUNDS), 2)} rounds=${rates.map((x) => round(x)).join('/')}`,
    );
  } finally {
    await d.stop();
  }
}

async function main(): Promise<void> {
  log(
    `capacity: ${QUEUED} queued calls for Redis, ${PG_CALLS} calls for Postgres${SWEEP ? `, then 1/2 APIs × 1/2 workers, ${ROUNDS} rounds of ${CALLS} calls each` : ''}`,
  );
  const d = await startDeployment({ workers: 0, env: { CALL_WAIT_MS: '200' } });
  try {
    await redisPhase(d);
    await postgresPhase(d);
  } finally {
    await d.stop();
  }
  if (SWEEP)
    for (const [apis, workers] of [
      [1, 1],
      [1, 2],
      [2, 1],
      [2, 2],
    ] as const)
      await throughputOf(apis, workers);
}

main().then(
  () => process.exit(0),
  (err) => {
    process.stderr.write(`bench:capacity failed: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
