/**
 * Latency mode (`pnpm bench:latency`, BENCH_MODE=latency): the e2e capacity at BENCH_CONCURRENCY,
 * then for the e2e path and the peer in turn: p50/p99 with one call in flight, and p50/p99 under an
 * open-loop offered rate of half that e2e capacity (./latency.ts).
 */
import type { Deployment } from './deployment.js';
import { oneInFlight, openLoop } from './latency.js';
import { drive, type RunStats } from './load.js';
import type { Peer } from './peer.js';
import { addDelta, cpuLine, cpuSnapshot, peerCpuSnapshot, perCallLine, wakeSnapshot, type Sums } from './probes.js';
import { CALLS, CONCURRENCY, ERROR_BUDGET, LATENCY_SAMPLES, LATENCY_WARMUP, OPEN_LOOP_S } from './settings.js';
import { log, pct, round } from './stats.js';
import type { ModeResult } from './throughput-mode.js';

const p = (s: RunStats, q: number) =>
  round(
    pct(
      [...s.latencies].sort((a, b) => a - b),
      q,
    ),
    2,
  );

export async function latencyMode(d: Deployment, peer: Peer): Promise<ModeResult> {
  await d.refreshBetweenPhases();
  const cap = await drive(d.clients, CALLS, CONCURRENCY);
  const capacity = (CALLS / cap.ms) * 1000;
  const rate = Math.max(1, Math.round(capacity / 2));
  log(`capacity: e2e ${round(capacity, 1)} calls/s at ${CONCURRENCY} in flight (${cap.errors} errors); open-loop rate ${rate}/s`);

  await d.refreshBetweenPhases();
  // Warmed up first, so that the CPU read around each run is the measured calls' alone.
  if (LATENCY_WARMUP > 0) await oneInFlight(d.clients, LATENCY_WARMUP, 0);
  const e1 = await withCpu(d, () => oneInFlight(d.clients, LATENCY_SAMPLES, 0));
  if (LATENCY_WARMUP > 0) await oneInFlight(peer.clients, LATENCY_WARMUP, 0);
  const p1 = await withPeerCpu(peer, () => oneInFlight(peer.clients, LATENCY_SAMPLES, 0));
  log(
    `1 in flight, ${LATENCY_SAMPLES} calls each: e2e p50 ${p(e1, 50)} p90 ${p(e1, 90)} p99 ${p(e1, 99)} ms, ${e1.errors} errors | peer p50 ${p(p1, 50)} p90 ${p(p1, 90)} p99 ${p(p1, 99)} ms, ${p1.errors} errors`,
  );

  log(cpuLine('1 in flight, e2e CPU per call', e1.cpu, e1.latencies.length, e1.ms));
  log(cpuLine('1 in flight, peer CPU per call', p1.cpu, p1.latencies.length, p1.ms));
  log(perCallLine('1 in flight, e2e wake-ups per call', e1.wakes, e1.latencies.length));

  await d.refreshBetweenPhases();
  const eo = await withCpu(d, () => openLoop(d.clients, rate, OPEN_LOOP_S));
  const po = await withPeerCpu(peer, () => openLoop(peer.clients, rate, OPEN_LOOP_S));
  log(
    `open loop ${rate}/s for ${OPEN_LOOP_S} s each (${eo.latencies.length} calls): e2e p50 ${p(eo, 50)} p90 ${p(eo, 90)} p99 ${p(eo, 99)} ms, ${eo.errors} errors, sender at most ${round(eo.lateMs, 1)} ms late | peer p50 ${p(po, 50)} p90 ${p(po, 90)} p99 ${p(po, 99)} ms, ${po.errors} errors, sender at most ${round(po.lateMs, 1)} ms late`,
  );
  log(cpuLine('open loop, e2e CPU per call', eo.cpu, eo.latencies.length, eo.ms));
  log(cpuLine('open loop, peer CPU per call', po.cpu, po.latencies.length, po.ms));
  log(perCallLine('open loop, e2e wake-ups per call', eo.wakes, eo.latencies.length));
  let ok = true;
  for (const [name, s] of Object.entries({ 'e2e 1-in-flight': e1, 'peer 1-in-flight': p1, 'e2e open-loop': eo, 'peer open-loop': po })) {
    if (s.errors > s.latencies.length * ERROR_BUDGET) {
      log(`FAIL: ${s.errors} of ${s.latencies.length} ${name} calls errored (> ${ERROR_BUDGET * 100}%)`);
      ok = false;
    }
  }
  return {
    ok,
    lastLines: [
      `latency_1_inflight e2e_p50_ms=${p(e1, 50)} e2e_p99_ms=${p(e1, 99)} peer_p50_ms=${p(p1, 50)} peer_p99_ms=${p(p1, 99)}`,
      `latency_open_loop rate=${rate}/s e2e_p50_ms=${p(eo, 50)} e2e_p99_ms=${p(eo, 99)} peer_p50_ms=${p(po, 50)} peer_p99_ms=${p(po, 99)}`,
    ],
  };
}

/** A phase of the e2e path with the CPU each part of the deployment used during it (and its wall time). */
async function withCpu<S extends RunStats>(d: Deployment, run: () => Promise<S>): Promise<S & { cpu: Sums; wakes: Sums; ms: number }> {
  const cpu: Sums = {};
  const wakes: Sums = {};
  const w0 = await wakeSnapshot(d.stack, d.pids);
  const c0 = await cpuSnapshot(d.stack, d.pids);
  const t0 = performance.now();
  const s = await run();
  const ms = performance.now() - t0;
  addDelta(cpu, c0, await cpuSnapshot(d.stack, d.pids));
  addDelta(wakes, w0, await wakeSnapshot(d.stack, d.pids));
  return { ...s, cpu, wakes, ms };
}

/** The same for the peer. */
async function withPeerCpu<S extends RunStats>(peer: Peer, run: () => Promise<S>): Promise<S & { cpu: Sums; ms: number }> {
  const cpu: Sums = {};
  const c0 = peerCpuSnapshot(peer.pid);
  const t0 = performance.now();
  const s = await run();
  const ms = performance.now() - t0;
  addDelta(cpu, c0, peerCpuSnapshot(peer.pid));
  return { ...s, cpu, ms };
}
