import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from './harness/test-config.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** A database of this test database's own name (`…_bench_smoke`), so two engineers' runs never drop each other's. */
function smokeDatabaseUrl(): string {
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${decodeURIComponent(u.pathname.slice(1))}_bench_smoke`;
  return u.toString();
}

async function runBench(extra: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const env = {
    ...process.env,
    BENCH_ROUNDS: '1',
    BENCH_CALLS: '40',
    BENCH_WARMUP: '20',
    BENCH_BARE_WARMUP_ROUNDS: '0',
    BENCH_BARE_JOBS: '200',
    BENCH_CONCURRENCY: '8',
    BENCH_CLIENTS: '4',
    BENCH_DATABASE_URL: smokeDatabaseUrl(),
    ...extra,
  };
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/bench/bench.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (b: Buffer) => (out += b.toString()));
  child.stderr.on('data', (b: Buffer) => (out += b.toString()));
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  return { code, out };
}

const LAST_LINE = /^e2e_calls_per_s=[\d.]+ bare_bullmq_jobs_per_s=\d+ ratio=[\d.]+ p50_ms=[\d.]+ p99_ms=[\d.]+ peer_calls_per_s=[\d.]+ vs_peer=[\d.]+$/;
const MEMORY_LINE = /^memory api_rss_mb=([\d.]+) api_heap_mb=([\d.]+) worker_rss_mb=([\d.]+) worker_heap_mb=([\d.]+) peer_rss_mb=([\d.]+)$/;

/** The throughput mode's last two lines: memory of each process (all figures read, none zero), then the figures. */
function expectThroughputTail(out: string): void {
  const lines = out.trim().split('\n');
  expect(lines.at(-1)!, out.slice(-3000)).toMatch(LAST_LINE);
  const mem = MEMORY_LINE.exec(lines.at(-2)!);
  expect(mem, lines.at(-2)).not.toBeNull();
  for (const v of mem!.slice(1)) expect(Number(v)).toBeGreaterThan(0);
  // The peer ran in its own process, every answer checked, and its CPU was read like the others'.
  expect(out).toMatch(/peer: SDK v2 createMcpHandler \+ McpServer, jose ES256 bearer check per request, node:http, pid \d+/);
  expect(out).toMatch(/peer: 40 calls, errors 0 \(0%\)/);
  expect(out).toMatch(/peer CPU per call: load clients [\d.]+ ms, peer process [\d.]+ ms/);
}

/**
 * `pnpm bench` end to end at a toy size, so the script cannot rot between the runs that measure:
 * it must start both processes, drive calls that all come back right, stop them cleanly and print
 * the machine-readable last line. (The figures themselves mean nothing at this size.) Both ways the
 * bench tenant can get its users' tokens are run, both protocol eras (against the API and the peer),
 * and the latency mode.
 */
describe('pnpm bench (smoke)', () => {
  it('BENCH_AUTH=builtin (default): the users sign in through the tenant AS, tokens are refreshed mid-run, every call answers', async () => {
    // Refresh at every phase boundary (and every 5 s): the path a run longer than the 600 s tokens takes.
    const { code, out } = await runBench({ BENCH_TOKEN_REFRESH_S: '0' });
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/tokens from the tenant's built-in AS/);
    expect(out).toMatch(/auth: 3 users signed in at http:\/\/127\.0\.0\.1:\d+\/t\/[^ ]+-as \(SDK auth\(\)/);
    expect(out).toMatch(/access tokens 600 s/);
    // Before the warm-up and before the round, at least.
    const refreshes = Number(/auth: tokens refreshed (\d+) times during the run/.exec(out)?.[1]);
    expect(refreshes, out.slice(-3000)).toBeGreaterThanOrEqual(2);
    expect(out).not.toMatch(/token refresh failed/);
    expect(out).toMatch(/e2e: 40 calls, errors 0 \(0%\)/);
    expectThroughputTail(out);
  }, 240_000);

  it('BENCH_AUTH=external: tokens minted by the dev IdP the tenant trusts', async () => {
    const { code, out } = await runBench({ BENCH_AUTH: 'external' });
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/tokens minted by the tenant's external IdP/);
    expect(out).not.toMatch(/auth: .*signed in/);
    expect(out).toMatch(/e2e: 40 calls, errors 0 \(0%\)/);
    expectThroughputTail(out);
  }, 240_000);

  it('BENCH_PROTOCOL=2025-11-25, 2 worker processes: the peer serves the 2025 era too (its SSE answers read and checked)', async () => {
    const { code, out } = await runBench({ BENCH_AUTH: 'external', BENCH_PROTOCOL: '2025-11-25', BENCH_WORKER_PROCESSES: '2' });
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/MCP 2025-11-25/);
    expect(out).toMatch(/1 API and 2 worker process\(es\)/);
    expect(out).toMatch(/CPU per call: .*worker processes \(2\)/);
    expect(out).toMatch(/e2e: 40 calls, errors 0 \(0%\)/);
    expectThroughputTail(out);
  }, 240_000);

  it('BENCH_MODE=latency: 1 in flight and open loop at half the measured e2e capacity, both targets, every answer checked', async () => {
    const { code, out } = await runBench({
      BENCH_AUTH: 'external',
      BENCH_MODE: 'latency',
      BENCH_LATENCY_SAMPLES: '30',
      BENCH_LATENCY_WARMUP: '5',
      BENCH_OPEN_LOOP_S: '1',
    });
    expect(code, out.slice(-3000)).toBe(0);
    const rate = Number(/capacity: e2e ([\d.]+) calls\/s at 8 in flight \(0 errors\); open-loop rate (\d+)\/s/.exec(out)?.[2]);
    const capacity = Number(/capacity: e2e ([\d.]+) calls\/s/.exec(out)?.[1]);
    // Half the capacity (the printed capacity is rounded to 0.1).
    expect(Math.abs(rate - capacity / 2), out.slice(-3000)).toBeLessThanOrEqual(1);
    expect(out).toMatch(/1 in flight, 30 calls each: e2e .* 0 errors \| peer .* 0 errors/);
    expect(out).toMatch(/open loop \d+\/s for 1 s each .* 0 errors, .* \| peer .* 0 errors/);
    const [first, last] = out.trim().split('\n').slice(-2);
    expect(first).toMatch(/^latency_1_inflight e2e_p50_ms=[\d.]+ e2e_p99_ms=[\d.]+ peer_p50_ms=[\d.]+ peer_p99_ms=[\d.]+$/);
    expect(last).toMatch(new RegExp(`^latency_open_loop rate=${rate}/s e2e_p50_ms=[\\d.]+ e2e_p99_ms=[\\d.]+ peer_p50_ms=[\\d.]+ peer_p99_ms=[\\d.]+$`));
  }, 240_000);

  it('BENCH_OTEL=on: the processes export their spans, every call answers, all drain and exit 0 with tracing on', async () => {
    const { code, out } = await runBench({ BENCH_AUTH: 'external', BENCH_OTEL: 'on' });
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/e2e: 40 calls, errors 0 \(0%\)/);
    expect(Number(/otel sink: (\d+) export requests/.exec(out)?.[1]), out.slice(-3000)).toBeGreaterThan(0);
    expectThroughputTail(out);
  }, 240_000);
});
