/**
 * Latency mode (BENCH_MODE=latency): what one caller waits, not how many calls fit through.
 *
 * - One call in flight: a closed loop of one lane (each call leaves when the previous one answered).
 * - Open loop at a fixed offered rate: calls leave on a schedule (call i at t0 + i / rate), whether
 *   or not earlier ones have answered, over as many keep-alive connections as are needed (a new one
 *   when none is idle). Each call's latency counts from its scheduled send time, not from when it
 *   actually left, so a stalled system is charged for the calls it held back (no coordinated
 *   omission).
 */
import { performance } from 'node:perf_hooks';
import { checkedCall, drive, emptyStats, type Caller, type RunStats } from './load.js';

/** `samples` calls one at a time, after `warmup` unmeasured ones. */
export async function oneInFlight(clients: Caller[], samples: number, warmup: number): Promise<RunStats> {
  if (warmup > 0) await drive(clients, warmup, 1);
  return drive(clients, samples, 1);
}

/** `rate` calls per second for `seconds`, open loop, round-robin over `clients`. */
export async function openLoop(clients: Caller[], rate: number, seconds: number): Promise<RunStats & { lateMs: number }> {
  const stats = emptyStats();
  const count = Math.max(1, Math.round(rate * seconds));
  const interval = 1000 / rate;
  const inFlight: Promise<void>[] = [];
  let lateMs = 0;
  const t0 = performance.now();
  let i = 0;
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      // Send every call whose time has come (a timer fires late: those calls are sent at once, and
      // their latency still counts from their scheduled time).
      for (; i < count && t0 + i * interval <= now; i++) {
        const scheduled = t0 + i * interval;
        lateMs = Math.max(lateMs, now - scheduled);
        inFlight.push(checkedCall(clients[i % clients.length]!, i, stats, scheduled));
      }
      if (i >= count) return resolve();
      setTimeout(tick, Math.max(0, t0 + i * interval - performance.now()));
    };
    tick();
  });
  await Promise.all(inFlight);
  stats.ms = performance.now() - t0;
  return { ...stats, lateMs };
}
