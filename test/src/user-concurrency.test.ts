import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { startStack, type Stack } from './harness/stack.js';
import { sleep, waitFor } from './harness/wait-for.js';

/**
 * As a seeded property: many users, per-user limit N, 3 worker processes with high
 * concurrency, random tool durations, one worker SIGKILLed mid-run. The echo tool itself reports when
 * it starts and ends (an HTTP probe in this process), so "running at once" is what really ran.
 * Reproduce a failure with TEST_SEED=<the seed printed>.
 */

const SEED = Number(process.env.TEST_SEED ?? Date.now() % 1_000_000);
function mulberry32(a: number) {
  return () => {
    a |= 0;
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const N = 2;
const USERS = ['alice', 'bob', 'carol', 'dave', 'erin', 'frank'];
const CALLS_PER_USER = 14;

describe(`per-user concurrency holds across 3 worker processes and a SIGKILL (seed ${SEED})`, () => {
  let s: Stack;
  let probe: Server;
  let probeUrl: string;
  const workers: AppProcess[] = [];
  /** Runs the tool reported started and not yet ended: user → run → worker pid. */
  const running = new Map<string, Map<string, number>>();
  const maxSeen = new Map<string, number>();
  let starts = 0;
  const dead = new Set<number>();

  beforeAll(async () => {
    s = await startStack({
      label: 'leases',
      worker: 'none',
      extraSubjects: ['dave', 'erin', 'frank'],
      // Short locks so the killed worker's jobs (and leases) come back within the test.
      env: { WORKER_CONCURRENCY: '16', JOB_LOCK_MS: '2000', JOB_STALLED_INTERVAL_MS: '1000', CALL_WAIT_MS: '500' },
    });
    await s.db.sql`update tenants set limits = limits || ${JSON.stringify({ perUserConcurrency: N, pendingCap: 500 })}::jsonb where id = ${s.tenant.id}`;
    probe = createServer((req, res) => {
      let body = '';
      req.on('data', (b: Buffer) => (body += b.toString()));
      req.on('end', () => {
        const e = JSON.parse(body) as { event: 'start' | 'end'; run: string; pid: number; user: string };
        // A start the killed worker sent just before it died may arrive after its runs were closed:
        // a process that no longer exists runs nothing.
        if (dead.has(e.pid)) {
          res.end('ok');
          return;
        }
        const mine = running.get(e.user) ?? new Map<string, number>();
        running.set(e.user, mine);
        if (e.event === 'start') {
          starts++;
          mine.set(e.run, e.pid);
          maxSeen.set(e.user, Math.max(maxSeen.get(e.user) ?? 0, mine.size));
        } else mine.delete(e.run);
        res.end('ok');
      });
    });
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    probeUrl = `http://127.0.0.1:${(probe.address() as AddressInfo).port}/probe`;
    for (let i = 0; i < 3; i++) workers.push(spawnApp('worker', s.env));
    await Promise.all(workers.map((w) => w.ready));
  }, 60_000);
  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await new Promise((r) => probe?.close(r));
    await s?.close();
  });

  it('the most calls of any user running at once never exceeds N, and every call completes exactly once', async () => {
    const rand = mulberry32(SEED);
    const plan = USERS.flatMap((u) => Array.from({ length: CALLS_PER_USER }, (_, i) => ({ u, i, delayMs: 30 + Math.floor(rand() * 400) })));
    const clients = new Map(await Promise.all(USERS.map(async (u) => [u, await s.client(await s.token(u))] as const)));
    const sent = Promise.all(
      plan.map((p) => clients.get(p.u)!.callTool({ name: 'echo', arguments: { message: `${p.u}-${p.i}`, delayMs: p.delayMs, probeUrl } })),
    );

    // Kill the first worker while it is running a tool.
    const victim = workers[0]!;
    const pid = victim.child.pid!;
    const busy = () => [...running.values()].some((m) => [...m.values()].includes(pid));
    for (let i = 0; i < 200 && !busy(); i++) await sleep(10);
    expect(busy()).toBe(true);
    victim.child.kill('SIGKILL');
    await victim.exited;
    dead.add(pid);
    // Its runs are certainly over now (the process is gone): they stop counting as running.
    let killedRuns = 0;
    for (const m of running.values())
      for (const [run, p] of m)
        if (p === pid) {
          m.delete(run);
          killedRuns++;
        }
    expect(killedRuns).toBeGreaterThan(0);
    await sent;

    const rows = await waitFor(
      'every call final',
      async () => {
        const now = await s.db.sql<{ id: string; status: string }[]>`select id, status, error from tool_calls where tenant_id = ${s.tenant.id}`;
        return now.length === plan.length && now.every((r) => r.status === 'succeeded' || r.status === 'failed') ? now : undefined;
      },
      60_000,
      200,
    );
    expect(rows.filter((r) => r.status !== 'succeeded')).toEqual([]);
    const done = await s.db.sql<{ call_id: string; n: number }[]>`select call_id, count(*)::int as n from audit_events
      where tenant_id = ${s.tenant.id} and action = 'tool_call.succeeded' group by call_id`;
    expect(done).toHaveLength(plan.length);
    expect(done.every((d) => d.n === 1)).toBe(true);
    // The property, observed by the tool: never more than N at once per user; and the limit was reached.
    for (const u of USERS) expect(maxSeen.get(u), `user ${u} (seed ${SEED})`).toBeLessThanOrEqual(N);
    expect(Math.max(...maxSeen.values())).toBe(N);
    expect(starts).toBeGreaterThanOrEqual(plan.length);
  }, 120_000);
});
