/**
 * What one synchronous commit costs on this machine's Postgres, beside an asynchronous one, in the
 * same minutes: `pnpm bench:commit`. A call makes two commits that wait for the WAL flush (its record,
 * and its final write): this says how much of a call's latency that flush can be here, since it
 * varies by machine and disk (earlier rounds measured 0.56–0.93 ms a flush, this one 0.1–0.15 ms).
 * One connection, single-row inserts into a temporary table (written to the WAL like any other;
 * nothing of the runtime's schema is touched), alternating rounds of each setting.
 *   COMMIT_SAMPLES  inserts per round (default 2000)   COMMIT_ROUNDS  rounds of each (default 2)
 * Last line: commit_latency sync_p50_ms=<n> sync_p99_ms=<n> async_p50_ms=<n> async_p99_ms=<n>
 */
import { createDb } from '@mcprt/db';
import { TEST_DATABASE_URL } from '../src/harness/test-config.js';
import { envInt } from './settings.js';
import { log, pct } from './stats.js';

const SAMPLES = envInt('COMMIT_SAMPLES', 2000);
const ROUNDS = envInt('COMMIT_ROUNDS', 2);

const db = createDb(TEST_DATABASE_URL, { max: 1, applicationName: 'mcprt-bench-commit' });
const sql = db.sql;
const all: Record<'on' | 'off', number[]> = { on: [], off: [] };
try {
  // One connection (max 1), so the temporary table and the setting are this session's throughout.
  await sql`create temporary table commit_probe (id bigserial primary key, v text not null)`;
  for (let round = 1; round <= ROUNDS; round++) {
    for (const setting of ['on', 'off'] as const) {
      await sql.unsafe(`set synchronous_commit = ${setting}`);
      const ms: number[] = [];
      for (let i = 0; i < SAMPLES; i++) {
        const t0 = performance.now();
        await sql`insert into commit_probe (v) values ('x')`;
        ms.push(performance.now() - t0);
      }
      all[setting].push(...ms);
      ms.sort((a, b) => a - b);
      const f = (p: number) => pct(ms, p).toFixed(3);
      log(`round ${round} synchronous_commit=${setting}: p50 ${f(50)} p90 ${f(90)} p99 ${f(99)} max ${ms.at(-1)!.toFixed(2)} ms`);
    }
  }
} finally {
  await db.close();
}
const [on, off] = [all.on.sort((a, b) => a - b), all.off.sort((a, b) => a - b)];
const r = (v: number) => v.toFixed(3);
log(`commit_latency sync_p50_ms=${r(pct(on, 50))} sync_p99_ms=${r(pct(on, 99))} async_p50_ms=${r(pct(off, 50))} async_p99_ms=${r(pct(off, 99))}`);
