/**
 * What the bench reads off the running deployment besides the answers: CPU (Linux /proc, Redis INFO),
 * system calls, memory, CPU profiles, and the calls' own row timestamps.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { Session } from 'node:inspector/promises';
import { Redis } from 'ioredis';
import type { Stack } from '../src/harness/stack.js';
import { redisCpu } from './bare-bullmq.js';
import { round } from './stats.js';

/** The deployment's process ids. */
export interface Pids {
  api: number[];
  worker: number[];
}

/** CPU seconds a process has used so far (utime + stime from /proc; USER_HZ = 100 on Linux); NaN once it is gone. */
export function ticks(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
    return (Number(f[11]) + Number(f[12])) / 100;
  } catch {
    return NaN;
  }
}

/** CPU seconds used so far by the peer process and this one (the load clients). */
export function peerCpuSnapshot(peerPid: number): Record<string, number> {
  const own = process.cpuUsage();
  return { 'load clients': (own.user + own.system) / 1e6, 'peer process': ticks(peerPid) };
}

/** Resident memory of a process in MiB (VmRSS in /proc/<pid>/status). */
export function rssMb(pid: number): number {
  try {
    const kb = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
    return kb === undefined ? NaN : Number(kb) / 1024;
  } catch {
    return NaN;
  }
}

/** V8 heap in use of a process in MiB, from its Prometheus listener (prom-client's default `nodejs_heap_size_used_bytes`). */
export async function heapUsedMb(metricsUrl: string): Promise<number> {
  try {
    const text = await (await fetch(metricsUrl)).text();
    const v = /^nodejs_heap_size_used_bytes(?:\{[^}]*\})? ([\d.e+]+)/m.exec(text)?.[1];
    return v === undefined ? NaN : Number(v) / 2 ** 20;
  } catch {
    return NaN;
  }
}

/** The Postgres backends of the API and the worker, each marked if it only LISTENs (postgres.js keeps one connection for that). */
function appBackends(stack: Stack): Promise<{ pid: number; app: string; listener: boolean }[]> {
  return stack.db.sql<
    { pid: number; app: string; listener: boolean }[]
  >`select pid, application_name as app, query ilike 'listen %' as listener from pg_stat_activity where datname = current_database() and application_name in ('mcprt-api', 'mcprt-worker')`;
}

/**
 * CPU seconds used so far by each part of the deployment, where it is cheap to tell: this process
 * (API + MCP clients), the worker process and the Postgres backends of each pool (Linux /proc), Redis
 * (INFO cpu: the whole server, so it includes anything else using it).
 */
export async function cpuSnapshot(stack: Stack, pids: Pids): Promise<Record<string, number>> {
  const own = process.cpuUsage();
  const out: Record<string, number> = { 'load clients': (own.user + own.system) / 1e6 };
  if (pids.api.length) out[pids.api.length > 1 ? `api processes (${pids.api.length})` : 'api process'] = pids.api.reduce((a, pid) => a + ticks(pid), 0);
  if (pids.worker.length)
    out[pids.worker.length > 1 ? `worker processes (${pids.worker.length})` : 'worker process'] = pids.worker.reduce((a, pid) => a + ticks(pid), 0);
  try {
    const rows = await appBackends(stack);
    for (const r of rows) {
      const k = `pg backends of ${r.app}${r.listener ? ' (LISTEN)' : ''}`;
      out[k] = (out[k] ?? 0) + (ticks(r.pid) || 0);
    }
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

/** Times a process's main thread has gone to sleep and been woken since it started (voluntary context switches, /proc/<pid>/status). */
function sleeps(pid: number): number {
  try {
    return Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? NaN);
  } catch {
    return NaN;
  }
}

/**
 * Wake-ups so far of each process on a call's path: the API and worker main threads, the Postgres
 * backends of each app split into the ones that only LISTEN and the pools', and the Redis server (its
 * main thread: all its clients). On this machine a wake-up of a sleeping process is the unit a lone
 * call's latency and a loaded machine's CPU are made of.
 */
export async function wakeSnapshot(stack: Stack, pids: Pids): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  out['api'] = pids.api.reduce((a, pid) => a + sleeps(pid), 0);
  out['worker'] = pids.worker.reduce((a, pid) => a + sleeps(pid), 0);
  try {
    const rows = await appBackends(stack);
    for (const r of rows) {
      const k = `pg ${r.app.replace('mcprt-', '')} ${r.listener ? 'listeners' : 'pool'}`;
      out[k] = (out[k] ?? 0) + (sleeps(r.pid) || 0);
    }
  } catch {
    /* not available */
  }
  const redis = new Redis(stack.config.REDIS_URL);
  try {
    const pid = Number(/process_id:(\d+)/.exec(await redis.info('server'))?.[1]);
    out['redis'] = sleeps(pid);
  } catch {
    /* not available */
  } finally {
    await redis.quit().catch(() => undefined);
  }
  return out;
}

/** One line of per-call counts (wake-ups) from the deltas of a phase, and their total. */
export function perCallLine(label: string, sums: Sums, calls: number): string {
  const parts = Object.entries(sums);
  const total = parts.reduce((a, [, v]) => a + v, 0);
  return `  ${label}: ${parts.map(([k, v]) => `${k} ${round(v / calls, 2)}`).join(', ')}; total ${round(total / calls, 2)}`;
}

/**
 * System calls so far, the load-independent half of the CPU figures: read/write calls of the API and
 * worker processes (Linux /proc/<pid>/io: syscr, syscw) and the reads/writes Redis processed (INFO
 * stats: all its clients, so exact only on a Redis of the bench's own, `TEST_REDIS_URL`).
 */
export async function syscallSnapshot(stack: Stack, pids: Pids): Promise<Record<string, number>> {
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
    ['worker', pids.worker],
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
export async function startProfile() {
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
export async function phaseBreakdown(stack: Stack, tenantId: string, ids: string[]) {
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

/** CPU (or system call) counts by part of the deployment. */
export type Sums = Record<string, number>;

/** Add the growth from snapshot `a` to snapshot `b` into `sum`. */
export const addDelta = (sum: Sums, a: Sums, b: Sums) => {
  for (const k of Object.keys(b)) {
    const d = b[k]! - (a[k] ?? 0);
    if (Number.isFinite(d)) sum[k] = (sum[k] ?? 0) + d;
  }
};

/** `label: <part> <ms> ms, …; total <ms> ms (<n> cores busy of <n>)`: CPU seconds per call over `calls` calls in `ms`. */
export function cpuLine(label: string, sums: Sums, calls: number, ms: number): string {
  const parts = Object.entries(sums);
  const total = parts.reduce((a, [, v]) => a + v, 0);
  return `  ${label}: ${parts.map(([k, v]) => `${k} ${round((v * 1000) / calls, 2)} ms`).join(', ')}; total ${round((total * 1000) / calls, 2)} ms (${round(total / (ms / 1000), 2)} cores busy of ${availableParallelism()})`;
}
