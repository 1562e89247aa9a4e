/**
 * Throughput mode (`pnpm bench`): BENCH_ROUNDS rounds of bare BullMQ, end to end, peer; CPU and
 * system calls per call of each tier, memory of each process, and the machine-readable last line.
 */
import { join } from 'node:path';
import { bareBullmq } from './bare-bullmq.js';
import type { Deployment } from './deployment.js';
import { addStats, drive, emptyStats, type RunStats } from './load.js';
import type { Peer } from './peer.js';
import { addDelta, cpuLine, cpuSnapshot, heapUsedMb, peerCpuSnapshot, phaseBreakdown, rssMb, startProfile, syscallSnapshot, type Sums } from './probes.js';
import { BARE_JOBS, CALLS, CONCURRENCY, ERROR_BUDGET, ROUNDS, WORKER_CONCURRENCY } from './settings.js';
import { log, mean, median, pct, round } from './stats.js';

export interface ModeResult {
  ok: boolean;
  /** Printed last, after the run's total time. */
  lastLines: string[];
}

/** One process group's memory now: RSS from /proc, V8 heap used from its Prometheus listener (summed over replicas). */
async function memorySample(d: Deployment, peer: Peer): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const name of ['api', 'worker'] as const) {
    const procs = d.procs.filter((p) => p.name === name);
    out[`${name}_rss_mb`] = procs.reduce((a, p) => a + rssMb(p.p.child.pid!), 0);
    out[`${name}_heap_mb`] = (await Promise.all(procs.map((p) => heapUsedMb(p.metricsUrl)))).reduce((a, b) => a + b, 0);
  }
  out.peer_rss_mb = rssMb(peer.pid);
  return out;
}

const errorsOf = (s: RunStats, total: number) =>
  `errors ${s.errors} (${round((100 * s.errors) / total, 2)}%)${s.errorSamples.length ? `, e.g. ${s.errorSamples.join(' | ')}` : ''}`;

export async function throughputMode(d: Deployment, peer: Peer): Promise<ModeResult> {
  const rounds: { bare: number; e2e: number; peer: number }[] = [];
  const all = emptyStats();
  const peerAll = emptyStats();
  const cpuSum: Sums = {};
  const sysSum: Sums = {};
  const peerCpuSum: Sums = {};
  const mem: Record<string, number>[] = [];
  const profDir = process.env.BENCH_CPU_PROF;
  for (let r = 1; r <= ROUNDS; r++) {
    const bare = await bareBullmq(BARE_JOBS, WORKER_CONCURRENCY);
    await d.refreshBetweenPhases();
    const cpu0 = await cpuSnapshot(d.stack, d.pids);
    const sys0 = await syscallSnapshot(d.stack, d.pids);
    const prof = profDir && r === 1 ? await startProfile() : undefined;
    const s = await drive(d.clients, CALLS, CONCURRENCY);
    if (prof) log(`  CPU profile of this process, round 1: ${await prof.stop(join(profDir!, `bench-${process.pid}.cpuprofile`))}`);
    // Steady state under load: sampled as the round's last calls answer.
    mem.push(await memorySample(d, peer));
    addDelta(cpuSum, cpu0, await cpuSnapshot(d.stack, d.pids));
    addDelta(sysSum, sys0, await syscallSnapshot(d.stack, d.pids));
    addStats(all, s);
    const pc0 = peerCpuSnapshot(peer.pid);
    const ps = await drive(peer.clients, CALLS, CONCURRENCY);
    addDelta(peerCpuSum, pc0, peerCpuSnapshot(peer.pid));
    addStats(peerAll, ps);
    const e2e = (CALLS / s.ms) * 1000;
    const peerPerS = (CALLS / ps.ms) * 1000;
    rounds.push({ bare: bare.jobsPerS, e2e, peer: peerPerS });
    log(
      `round ${r}: bare BullMQ ${round(bare.jobsPerS)} jobs/s (CPU per job, this process + redis: ${round(bare.cpuMsPerJob, 3)} ms) | e2e ${round(e2e, 1)} calls/s, ${s.errors} errors | peer ${round(peerPerS, 1)} calls/s, ${ps.errors} errors | ratio ${(e2e / bare.jobsPerS).toFixed(3)} vs_peer ${(e2e / peerPerS).toFixed(3)}`,
    );
  }
  const total = CALLS * ROUNDS;
  const sorted = [...all.latencies].sort((a, b) => a - b);
  const [p50, p90, p99] = [pct(sorted, 50), pct(sorted, 90), pct(sorted, 99)];
  const peerSorted = [...peerAll.latencies].sort((a, b) => a - b);
  log(`e2e: ${total} calls, ${errorsOf(all, total)}`);
  log(
    `e2e latency ms: p50 ${round(p50, 1)}  p90 ${round(p90, 1)}  p99 ${round(p99, 1)}  max ${round(sorted.at(-1) ?? NaN, 1)}  mean ${round(mean(sorted), 1)}`,
  );
  log(cpuLine('CPU per call', cpuSum, total, all.ms));
  log(
    `  syscalls per call: ${Object.entries(sysSum)
      .map(([k, v]) => `${k} ${round(v / total, 2)}`)
      .join(', ')}`,
  );
  const ph = await phaseBreakdown(d.stack, d.tenantId, all.callIds);
  if (ph) {
    const fmt = (xs: number[]) => `mean ${round(mean(xs), 1)} p50 ${round(pct(xs, 50), 1)} p99 ${round(pct(xs, 99), 1)}`;
    log(`  row timestamps (${ph.n} calls): queued→started ${fmt(ph.q)} | started→finished ${fmt(ph.run)} | created→finished ${fmt(ph.tot)}`);
    log(
      `  outside the row's life (auth, admission, HTTP, bell, result read): mean ≈ ${round(mean(sorted) - mean(ph.tot), 1)} ms of ${round(mean(sorted), 1)} ms`,
    );
  }
  log(`peer: ${total} calls, ${errorsOf(peerAll, total)}`);
  log(
    `peer latency ms: p50 ${round(pct(peerSorted, 50), 1)}  p90 ${round(pct(peerSorted, 90), 1)}  p99 ${round(pct(peerSorted, 99), 1)}  max ${round(peerSorted.at(-1) ?? NaN, 1)}`,
  );
  log(cpuLine('peer CPU per call', peerCpuSum, total, peerAll.ms));
  const e2ePerS = median(rounds.map((r) => r.e2e));
  const barePerS = median(rounds.map((r) => r.bare));
  const peerPerS = median(rounds.map((r) => r.peer));
  const ratio = e2ePerS / barePerS;
  log(`ratio e2e/bare per round ${rounds.map((r) => (r.e2e / r.bare).toFixed(3)).join(' ')}; of the medians ${ratio.toFixed(3)} (target ≥ 0.15)`);
  log(`vs_peer e2e/peer per round ${rounds.map((r) => (r.e2e / r.peer).toFixed(3)).join(' ')}; of the medians ${(e2ePerS / peerPerS).toFixed(3)}`);
  if (d.builtinTokens) log(`auth: tokens refreshed ${d.builtinTokens.refreshes} times during the run`);
  let ok = true;
  for (const [name, s] of [['e2e', all] as const, ['peer', peerAll] as const]) {
    if (s.errors > total * ERROR_BUDGET) {
      log(`FAIL: ${s.errors} of ${total} ${name} calls errored (> ${ERROR_BUDGET * 100}%)`);
      ok = false;
    }
  }
  const memKeys = ['api_rss_mb', 'api_heap_mb', 'worker_rss_mb', 'worker_heap_mb', 'peer_rss_mb'];
  return {
    ok,
    lastLines: [
      `memory ${memKeys.map((k) => `${k}=${round(median(mem.map((m) => m[k]!)), 1)}`).join(' ')}`,
      `e2e_calls_per_s=${round(e2ePerS, 1)} bare_bullmq_jobs_per_s=${round(barePerS)} ratio=${ratio.toFixed(3)} p50_ms=${round(p50, 1)} p99_ms=${round(p99, 1)} peer_calls_per_s=${round(peerPerS, 1)} vs_peer=${(e2ePerS / peerPerS).toFixed(3)}`,
    ],
  };
}
