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

const LAST_LINE = /^e2e_calls_per_s=[\d.]+ bare_bullmq_jobs_per_s=\d+ ratio=[\d.]+ p50_ms=[\d.]+ p99_ms=[\d.]+$/;

/**
 * `pnpm bench` end to end at a toy size, so the script cannot rot between the runs that measure:
 * it must start both processes, drive calls that all come back right, stop them cleanly and print
 * the machine-readable last line. (The figures themselves mean nothing at this size.) Both ways the
 * bench tenant can get its users' tokens are run.
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
    expect(out.trim().split('\n').at(-1)!).toMatch(LAST_LINE);
  }, 120_000);

  it('BENCH_AUTH=external: tokens minted by the dev IdP the tenant trusts', async () => {
    const { code, out } = await runBench({ BENCH_AUTH: 'external' });
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/tokens minted by the tenant's external IdP/);
    expect(out).not.toMatch(/auth: .*signed in/);
    expect(out).toMatch(/e2e: 40 calls, errors 0 \(0%\)/);
    expect(out.trim().split('\n').at(-1)!).toMatch(LAST_LINE);
  }, 120_000);

  it('BENCH_OTEL=on: both processes export their spans, every call answers, both drain and exit 0 with tracing on', async () => {
    const { code, out } = await runBench({ BENCH_AUTH: 'external', BENCH_OTEL: 'on' });
    expect(code, out.slice(-3000)).toBe(0);
    expect(out).toMatch(/e2e: 40 calls, errors 0 \(0%\)/);
    expect(Number(/otel sink: (\d+) export requests/.exec(out)?.[1]), out.slice(-3000)).toBeGreaterThan(0);
    expect(out.trim().split('\n').at(-1)!).toMatch(LAST_LINE);
  }, 120_000);
});
