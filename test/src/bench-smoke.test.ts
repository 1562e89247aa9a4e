import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { TEST_DATABASE_URL } from './harness/test-config.js';

const root = fileURLToPath(new URL('../..', import.meta.url));

/**
 * `pnpm bench` end to end at a toy size, so the script cannot rot between the runs that measure:
 * it must start both processes, drive calls that all come back right, stop them cleanly and print
 * the machine-readable last line. (The figures themselves mean nothing at this size.)
 */
describe('pnpm bench (smoke)', () => {
  it('runs the whole benchmark at a toy size and ends with the machine-readable line', async () => {
    const env = {
      ...process.env,
      BENCH_ROUNDS: '1',
      BENCH_CALLS: '40',
      BENCH_WARMUP: '20',
      BENCH_BARE_WARMUP_ROUNDS: '0',
      BENCH_BARE_JOBS: '200',
      BENCH_CONCURRENCY: '8',
      BENCH_CLIENTS: '4',
      BENCH_DATABASE_URL: Object.assign(new URL(TEST_DATABASE_URL), { pathname: '/mcprt_bench_smoke' }).toString(),
    };
    const child = spawn(process.execPath, ['--import', 'tsx', 'test/bench/bench.ts'], { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (b: Buffer) => (out += b.toString()));
    child.stderr.on('data', (b: Buffer) => (out += b.toString()));
    const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
    expect(code, out.slice(-3000)).toBe(0);
    const last = out.trim().split('\n').at(-1)!;
    expect(last).toMatch(/^e2e_calls_per_s=[\d.]+ bare_bullmq_jobs_per_s=\d+ ratio=[\d.]+ p50_ms=[\d.]+ p99_ms=[\d.]+$/);
    expect(out).toMatch(/e2e: 40 calls, errors 0 \(0%\)/);
  });
});
