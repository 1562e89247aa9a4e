/**
 * `pnpm bench:fairness`: does a user who floods the queue slow everyone else?
 *
 * Real API (in this process), 2 worker processes (their real entry point), Postgres, Redis, the dev
 * IdP. Tenant 1 has user A (the flood) and user B (quiet); tenant 2 has user C (quiet). Per-user
 * concurrency N (tenant limits). Two phases, the quiet users doing the same in both: a steady trickle
 * of echo calls (one call each every TRICKLE_MS, each running TOOL_MS):
 *   idle  — nobody else;
 *   flood — A keeps 20 × N calls outstanding the whole time (each answered call is replaced at once).
 * The quiet users' end-to-end latency (MCP request → answer) is measured; the last line is
 *   quiet_p99_idle_ms=<n> quiet_p99_flood_ms=<n> ratio=<flood/idle>
 * Environment: FAIR_N (4), FAIR_CALLS (quiet calls per user per phase, 60), FAIR_TOOL_MS (40),
 * FAIR_TRICKLE_MS (60), FAIR_WORKER_CONCURRENCY (16).
 */
import { ensureDatabase, runMigrations, tenantsRepository } from '@mcprt/db';
import { spawnApp, type AppProcess } from '../src/harness/app-process.js';
import { connectClient, startStack, ALL_SCOPES, type McpTestClient } from '../src/harness/stack.js';
import { TEST_APP_DATABASE_URL, TEST_DATABASE_URL } from '../src/harness/test-config.js';

const int = (name: string, d: number) => {
  const v = Number(process.env[name] ?? d);
  if (!Number.isInteger(v) || v <= 0) throw new Error(`${name} must be a positive integer`);
  return v;
};
const N = int('FAIR_N', 4);
const CALLS = int('FAIR_CALLS', 60);
const TOOL_MS = int('FAIR_TOOL_MS', 40);
const TRICKLE_MS = int('FAIR_TRICKLE_MS', 60);
const WORKER_CONCURRENCY = int('FAIR_WORKER_CONCURRENCY', 16);
const FLOOD = 20 * N;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const p99 = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(0.99 * s.length) - 1)]!;
};

async function main() {
  await ensureDatabase(TEST_DATABASE_URL);
  await runMigrations(TEST_DATABASE_URL, { appUrl: TEST_APP_DATABASE_URL });
  const s = await startStack({ label: 'fair', worker: 'none', env: { WORKER_CONCURRENCY: String(WORKER_CONCURRENCY), CALL_WAIT_MS: '60000' } });
  const workers: AppProcess[] = [];
  try {
    const limits = JSON.stringify({ perUserConcurrency: N, pendingCap: 10 * FLOOD, perUserRatePerMinute: 1_000_000 });
    await s.db.sql`update tenants set limits = limits || ${limits}::jsonb where id = ${s.tenant.id}`;
    const other = await tenantsRepository(s.db.db).create({
      slug: `${s.ns.slug}-2`,
      displayName: 'second tenant',
      idpIssuer: s.idp.issuer,
      enabledTools: ['echo'],
      authMode: 'external',
    });
    await s.db.sql`update tenants set limits = limits || ${limits}::jsonb where id = ${other.id}`;
    const otherUrl = `${s.config.PUBLIC_URL}/t/${other.slug}/mcp`;
    for (let i = 0; i < 2; i++) workers.push(spawnApp('worker', { ...s.env, LOG_LEVEL: 'warn' }));
    await Promise.all(workers.map((w) => w.ready.catch(() => undefined)));
    await sleep(500);

    const flooder = await s.client(await s.token('alice'));
    const quiet: McpTestClient[] = [
      await s.client(await s.token('bob')),
      await connectClient('v2', otherUrl, await s.idp.mintAccessToken({ sub: 'carol', audience: otherUrl, scope: ALL_SCOPES })),
    ];
    const call = async (c: McpTestClient, message: string, delayMs: number) => {
      const t0 = performance.now();
      const res = await c.callTool({ name: 'echo', arguments: { message, delayMs } }, { timeout: 120_000 });
      if ((res as { isError?: boolean }).isError) throw new Error(`call failed: ${JSON.stringify(res)}`);
      return performance.now() - t0;
    };
    const trickle = async (phase: string) => {
      const lat: number[] = [];
      await Promise.all(
        quiet.map(async (c, u) => {
          const runs: Promise<void>[] = [];
          for (let i = 0; i < CALLS; i++) {
            runs.push(call(c, `${phase}-${u}-${i}`, TOOL_MS).then((ms) => void lat.push(ms)));
            await sleep(TRICKLE_MS);
          }
          await Promise.all(runs);
        }),
      );
      return lat;
    };

    // Warm-up, then idle.
    await trickle('warm');
    const idle = await trickle('idle');

    // Flood: A keeps FLOOD calls outstanding while the quiet users trickle.
    let flooding = true;
    let floodDone = 0;
    const floodLoop = async (k: number) => {
      while (flooding) {
        await call(flooder, `flood-${k}`, TOOL_MS * 4);
        floodDone++;
      }
    };
    const floods = Array.from({ length: FLOOD }, (_, k) => floodLoop(k));
    await sleep(300); // the queue fills with A's calls first
    const flood = await trickle('flood');
    flooding = false;
    await Promise.all(floods);
    await Promise.all(quiet.slice(1).map((c) => c.close()));

    const idleP99 = p99(idle);
    const floodP99 = p99(flood);
    console.log(
      `fairness: N=${N}, flood ${FLOOD} outstanding (${floodDone} flood calls done), ${CALLS} quiet calls/user/phase, tool ${TOOL_MS} ms, 2 workers × ${WORKER_CONCURRENCY}`,
    );
    console.log(`quiet_p99_idle_ms=${Math.round(idleP99)} quiet_p99_flood_ms=${Math.round(floodP99)} ratio=${(floodP99 / idleP99).toFixed(2)}`);
  } finally {
    for (const w of workers) w.child.kill('SIGKILL');
    await s.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    console.error(e);
    process.exit(1);
  },
);
