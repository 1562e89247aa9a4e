import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { serverUrl } from './harness/test-database.js';

/**
 * postgres.js is patched (patches/postgres@3.4.9.patch): a query is settled through `resolve` and
 * `reject` on its prototype, which call the promise's own settling functions kept as plain fields.
 * Unpatched, every query carried two arrow functions of its own wrapping them, and with them a loop
 * of queries kept 10–22 % of all it allocated alive through every young-generation collection: each
 * scavenge copied and promoted a chain of finished queries and their results, and took milliseconds.
 * Every statement the API and the worker send goes through this path. The test runs such a loop in a
 * process of its own with V8's GC trace and holds the share that survives a scavenge to what garbage
 * that nothing points to should leave: next to nothing (0.1 % patched, 10–13 % unpatched here).
 */
const postgresEntry = createRequire(fileURLToPath(new URL('../../packages/db/package.json', import.meta.url))).resolve('postgres');

const loop = `
const postgres = require(${JSON.stringify(postgresEntry)});
const sql = postgres(process.env.URL, { max: 1, onnotice: () => {} });
(async () => {
  for (let i = 0; i < 12000; i++) await sql\`select 1 where false\`;
  await sql.end();
})().catch((e) => { console.error(e); process.exit(1); });
`;

interface Scavenge {
  allocated: number;
  survived: number;
}

function scavenges(trace: string): Scavenge[] {
  const out: Scavenge[] = [];
  for (const line of trace.split('\n')) {
    if (!line.includes(' gc=s ')) continue;
    const field = (name: string) => Number(new RegExp(` ${name}=(\\d+)`).exec(line)?.[1] ?? NaN);
    out.push({ allocated: field('allocated'), survived: field('new_space_survived') });
  }
  return out;
}

describe('postgres.js queries leave nothing behind for the young-generation collector', () => {
  it('a loop of queries keeps under 2 % of what it allocates through each scavenge', async () => {
    const trace = await new Promise<string>((resolve, reject) =>
      execFile(
        process.execPath,
        ['--trace-gc-nvp', '-e', loop],
        { env: { ...process.env, URL: serverUrl() }, maxBuffer: 64 * 2 ** 20, timeout: 120_000 },
        (err, stdout, stderr) => (err ? reject(new Error(`${err.message}\n${stderr}`)) : resolve(stdout)),
      ),
    );
    // The first collections run while the connection and the module are still being set up.
    const steady = scavenges(trace).slice(3);
    expect(steady.length).toBeGreaterThanOrEqual(5);
    const allocated = steady.reduce((a, s) => a + s.allocated, 0);
    const survived = steady.reduce((a, s) => a + s.survived, 0);
    expect(allocated).toBeGreaterThan(0);
    expect(survived / allocated).toBeLessThan(0.02);
  }, 150_000);
});
