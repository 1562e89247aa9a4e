/**
 * Soak: `pnpm test:faults --soak 30m [--rate <calls/s>]` (not in CI). One API and one worker process,
 * no faults. First the capacity is measured in the same run (a closed-loop ramp: 16, 32, 64 clients,
 * 15 s each; the best step's completed calls/s), then open-loop arrivals are held at half of it
 * (`--rate` overrides). Every sample interval it records Redis `used_memory`, the API's and the worker's
 * RSS and heap still referenced after a forced full GC (through their inspectors), and the size of
 * `tool_calls` + `audit_events`.
 *
 * Verdict: for each memory series, a least-squares line over the second half of the hold; the run
 * fails if that line's rise across the second half exceeds max(8 MB, 5 % of the series' mean), or if
 * any call went unacknowledged. Tables are reported, not judged: rows are kept by design. Redis is
 * judged only once the queue's completed-job retention (50,000 jobs) is full for the whole second half:
 * while it fills, Redis grows by design and time and job count cannot be told apart.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Redis } from 'ioredis';
import { inspectorOf, INSPECT_OPTIONS, type Inspector } from './inspect.js';
import { closeWorld, load, log, mcpUrl, runOp, startApiProc, startWorkerProc, startWorld, type World } from './world.js';

const rssMb = (pid: number | undefined): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
};

interface Sample {
  t: number;
  calls: number;
  redisMb: number;
  apiMb: number;
  workerMb: number;
  apiHeapMb: number;
  workerHeapMb: number;
  tableMb: number;
  rows: number;
  /** Completed jobs the queue keeps (removeOnComplete: 50,000, 1 h): Redis holds them by design. */
  kept: number;
  /** Redis keys that are not a job's own (queue lists and sets, leases, limiter counters, locks). */
  otherKeys: number;
}
const SERIES = ['redisMb', 'apiMb', 'workerMb', 'apiHeapMb', 'workerHeapMb'] as const;

/** Keys in Redis that are not a job's own record (`<queue>:call_…` and its `:lock`/`:logs`), by SCAN. */
async function nonJobKeys(redis: Redis, jobKeyPrefix: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'COUNT', 5_000);
    cursor = next;
    for (const k of keys) if (!k.startsWith(jobKeyPrefix)) n++;
  } while (cursor !== '0');
  return n;
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const mx = xs.reduce((a, b) => a + b, 0) / n;
  const my = ys.reduce((a, b) => a + b, 0) / n;
  let num = 0;
  let den = 0;
  for (let i = 0; i < n; i++) {
    num += (xs[i]! - mx) * (ys[i]! - my);
    den += (xs[i]! - mx) ** 2;
  }
  return den === 0 ? 0 : num / den;
}

/** Completed calls per second with `clients` closed loops for `ms` (counted over the last two thirds). */
async function throughput(w: World, clients: number, ms: number): Promise<number> {
  const from = w.ops.length;
  const settleAt = Date.now() + ms / 3;
  const end = load(w, clients, sleep(ms), { delayMs: () => 0 });
  const t0 = Date.now();
  await sleep(ms / 3);
  const before = w.ops.slice(from).filter((o) => o.answers.some((a) => a.answer === 'result')).length;
  await end;
  const counted = w.ops.slice(from).filter((o) => o.answers.some((a) => a.answer === 'result')).length - before;
  return counted / ((Date.now() - Math.max(t0, settleAt)) / 1000);
}

export async function soak(durationMs: number, fixedRate?: number): Promise<number> {
  const w = await startWorld();
  const samples: Sample[] = [];
  let capacity = NaN;
  let rate = fixedRate ?? NaN;
  let holdStart = 0;
  const inspectors: Inspector[] = [];
  try {
    // Capacity, not one user's limits, is what the soak loads: its single user's pending cap and
    // concurrency are set out of reach, as the benchmark does (the API caches tenants: set before start).
    await w.s.db
      .sql`update tenants set limits = limits || ${JSON.stringify({ pendingCap: 100_000, perUserConcurrency: 100_000 })}::jsonb where id = ${w.s.tenant.id}`;
    // LOG_LEVEL info (the production default: one line per accepted call), as the suite's processes.
    const api = await startApiProc(w, undefined, { ...INSPECT_OPTIONS });
    const worker = await startWorkerProc(w, { ...INSPECT_OPTIONS });
    const [apiInspector, workerInspector] = [await inspectorOf(api), await inspectorOf(worker)];
    inspectors.push(apiInspector, workerInspector);
    const redis = new Redis(w.redis.env.REDIS_URL); // one node: the soak runs without --redis-cluster
    if (fixedRate === undefined) {
      const steps: string[] = [];
      capacity = 0;
      for (const clients of [16, 32, 64]) {
        const tput = await throughput(w, clients, 15_000);
        steps.push(`${clients}:${tput.toFixed(0)}`);
        capacity = Math.max(capacity, tput);
      }
      rate = capacity / 2;
      log(`soak capacity ramp (clients:calls/s) ${steps.join(' ')} → capacity ${capacity.toFixed(0)} calls/s, holding ${rate.toFixed(0)} calls/s`);
    }
    w.ops.length = 0; // the hold's calls only, from here
    const url = mcpUrl(w);
    holdStart = Date.now();
    const end = holdStart + durationMs;
    const every = Math.min(30_000, Math.max(5_000, durationMs / 12));
    const sample = async () => {
      const info = await redis.info('memory');
      const kept = await redis.zcard(`${w.s.config.QUEUE_PREFIX}:tool-calls:completed`);
      const otherKeys = await nonJobKeys(redis, `${w.s.config.QUEUE_PREFIX}:tool-calls:call_`);
      const [t] = (await w.s.db.sql`select (pg_total_relation_size('tool_calls') + pg_total_relation_size('audit_events'))::float8 / 1048576 as mb,
        (select count(*) from tool_calls where tenant_id = ${w.s.tenant.id})::int as rows`) as unknown as [{ mb: number; rows: number }];
      const [ah, wh] = [await apiInspector.heapAfterGc(), await workerInspector.heapAfterGc()];
      const row: Sample = {
        t: Math.round((Date.now() - holdStart) / 1000),
        calls: w.ops.length,
        redisMb: Math.round(Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN) / 1048576),
        apiMb: rssMb(api.child.pid),
        workerMb: rssMb(worker.child.pid),
        apiHeapMb: ah.heapMb,
        workerHeapMb: wh.heapMb,
        tableMb: Math.round(t.mb),
        rows: t.rows,
        kept,
        otherKeys,
      };
      samples.push(row);
      log(
        `soak t=${row.t}s calls=${row.calls} redis_used_memory=${row.redisMb}MB api_rss=${row.apiMb}MB api_heap_after_gc=${row.apiHeapMb}MB`,
        `worker_rss=${row.workerMb}MB worker_heap_after_gc=${row.workerHeapMb}MB tables=${row.tableMb}MB rows=${row.rows} completed_jobs_kept=${row.kept} other_redis_keys=${row.otherKeys}`,
      );
    };
    await sample();
    let next = holdStart + every;
    let issued = 0;
    let inFlight = 0;
    const pending = new Set<Promise<unknown>>();
    while (Date.now() < end) {
      // Open-loop arrivals at `rate` per second, paced by elapsed time (bounded in flight so a stall
      // cannot pile up forever).
      const due = Math.floor(((Date.now() - holdStart) / 1000) * rate) - issued;
      for (let i = 0; i < due && inFlight < 512; i++) {
        issued++;
        inFlight++;
        const p = runOp(w, () => [url], 0, 5_000).finally(() => {
          inFlight--;
          pending.delete(p);
        });
        pending.add(p);
      }
      if (Date.now() >= next) {
        next += every;
        void sample();
      }
      // The history of a long soak is large: keep only what the verdict reads.
      if (w.ops.length > 200_000) for (const o of w.ops.splice(0, 100_000)) if (!o.callId) w.ops.push(o);
      await sleep(5);
    }
    await Promise.allSettled([...pending]);
    await sample();
    await redis.quit();
  } finally {
    for (const i of inspectors) i.close();
    await closeWorld(w);
  }
  // The verdict: the fitted rise over the second half of the hold, per memory series.
  const half = samples.filter((s) => s.t >= durationMs / 2000);
  const minutes = durationMs / 2 / 60_000;
  // Redis keeps the last 50,000 completed jobs (1 h): while that set is still filling, its memory
  // grows by design and time and job count cannot be told apart — judged only once it is full.
  const filling = half.length > 0 && Math.min(...half.map((s) => s.kept)) < 0.99 * Math.max(...half.map((s) => s.kept));
  const verdicts = SERIES.filter((k) => !(k === 'redisMb' && filling)).map((k) => {
    const ys = half.map((s) => s[k]);
    const perMin = slope(
      half.map((s) => s.t / 60),
      ys,
    );
    const mean = ys.reduce((a, b) => a + b, 0) / ys.length;
    const allowed = Math.max(8, 0.05 * mean);
    return { k, perMin, rise: perMin * minutes, allowed, bad: !(perMin * minutes <= allowed) };
  });
  for (const v of verdicts)
    log(`soak ${v.k}: ${v.perMin.toFixed(2)} MB/min over the second half → +${v.rise.toFixed(1)} MB (allowed ${v.allowed.toFixed(1)})${v.bad ? ' GROWS' : ''}`);
  if (filling)
    log(
      `soak redisMb: not judged — the queue's completed-job retention was still filling during the second half (${half[0]?.kept} → ${half[half.length - 1]?.kept} kept); a longer or faster soak fills it`,
    );
  // Whatever Redis holds besides jobs must not grow with the calls, retention full or not.
  const keysPerMin = slope(
    half.map((s) => s.t / 60),
    half.map((s) => s.otherKeys),
  );
  const keysMean = half.reduce((a, s) => a + s.otherKeys, 0) / Math.max(1, half.length);
  const keysAllowed = Math.max(50, 0.05 * keysMean);
  const keysBad = !(keysPerMin * minutes <= keysAllowed);
  log(
    `soak other Redis keys: ${keysPerMin.toFixed(1)}/min over the second half → +${(keysPerMin * minutes).toFixed(0)} (allowed ${keysAllowed.toFixed(0)})${keysBad ? ' GROWS' : ''}`,
  );
  const bad = [...verdicts.filter((v) => v.bad).map((v) => v.k), ...(keysBad ? ['otherRedisKeys'] : [])];
  const first = samples[1] ?? samples[0]!;
  const final = samples[samples.length - 1]!;
  const kbPerCall = ((final.tableMb - first.tableMb) * 1024) / Math.max(1, final.rows - first.rows);
  const unacked = w.ops.filter((o) => !o.callId);
  const errors = unacked.length;
  const why = new Map<string, number>();
  for (const o of unacked) {
    const a = o.answers[o.answers.length - 1];
    const k = `${a?.answer ?? 'none'} ${(a?.detail ?? '').slice(0, 80)}`;
    why.set(k, (why.get(k) ?? 0) + 1);
  }
  for (const [k, n] of why) log(`soak unacknowledged: ${n} × ${k}`);
  log(`soak done: ${final.rows} calls recorded, ${errors} unacknowledged, table growth ${kbPerCall.toFixed(2)} kB per call (rows are kept by design)`);
  console.log(
    `soak_seconds=${Math.round(durationMs / 1000)} capacity=${Number.isNaN(capacity) ? 'n/a' : capacity.toFixed(0)} rate=${rate.toFixed(0)} calls=${final.rows} unacknowledged=${errors} unbounded=${bad.join(',') || 'none'}`,
  );
  return bad.length === 0 && errors === 0 ? 0 : 1;
}
