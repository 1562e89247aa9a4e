/**
 * The scenarios: each starts from a healthy world (one API, two workers), injects its fault under load
 * and returns what it measured; the suite heals the world and checks the invariants (check.ts).
 * A scenario throws when a check of its own fails (a failover too slow, a drain that reset requests).
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { STALE_RESULT_DISCARDED } from '@mcprt/calls';
import { Queue } from 'bullmq';
import type { RedisClient } from '@mcprt/redis';
import { spawnApp } from '../src/harness/app-process.js';
import { freePort } from '../src/harness/free-port.js';
import { openRedis } from '../src/harness/redis.js';
import { kill, killAllWorkers, mcpUrl, outage, replaceWorker, startApiProc, startWorkerProc, underLoad, type World } from './world.js';

export interface ScenarioOutcome {
  poisonCallIds?: string[];
  measured?: Record<string, number>;
}
export interface Scenario {
  name: string;
  run(w: World): Promise<ScenarioOutcome>;
}

/** Postgres outages last this long (the outage the runtime must ride out at the API and at the worker). */
const PG_OUTAGE_MS = 30_000;

const sql = (w: World) => w.s.db.sql;

/** When did the calls that were running on a killed worker become final, relative to the kill? */
async function failoverMs(w: World, killedAt: number, runningIds: string[]): Promise<number> {
  if (runningIds.length === 0) return 0;
  const rows = (await sql(w)`select extract(epoch from finished_at) * 1000 as t from tool_calls where id = any(${runningIds})`) as unknown as {
    t: string | null;
  }[];
  return Math.max(...rows.map((r) => (r.t ? Number(r.t) - killedAt : Infinity)));
}

const idsWithStatus = async (w: World, status: 'queued' | 'running') =>
  ((await sql(w)`select id from tool_calls where tenant_id = ${w.s.tenant.id} and status = ${status}`) as unknown as { id: string }[]).map((r) => r.id);

/** The suite's own view of the queue (its private Redis), closed after `fn`. */
async function withQueue<T>(w: World, fn: (queue: Queue, conn: RedisClient) => Promise<T>): Promise<T> {
  const conn = openRedis(w.s.config);
  const queue = new Queue('tool-calls', { connection: conn, prefix: w.s.config.QUEUE_PREFIX });
  try {
    return await fn(queue, conn);
  } finally {
    await queue.close();
    await conn.quit();
  }
}

const random = (max: number) => () => Math.floor(Math.random() * max);

export const scenarios: Scenario[] = [
  {
    name: 'worker-sigkill-mid-call',
    async run(w) {
      let killedAt = 0;
      let before: string[] = [];
      const victim = w.workers[0]!;
      await underLoad(w, { ms: 9_000, delayMs: () => 1_500, faultAfterMs: 2_500 }, async () => {
        before = await idsWithStatus(w, 'running');
        killedAt = Date.now();
        await kill(victim);
      });
      await sleep(500);
      await replaceWorker(w, victim);
      // Calls that were running on either worker at the kill: the victim's come back via the stall check.
      for (let i = 0; i < 120 && (await idsWithStatus(w, 'running')).some((id) => before.includes(id)); i++) await sleep(250);
      return { measured: { failover_ms: Math.round(await failoverMs(w, killedAt, before)) } };
    },
  },
  {
    name: 'all-workers-killed-and-restarted',
    async run(w) {
      await underLoad(w, { ms: 8_000, delayMs: () => 800 }, async () => {
        await killAllWorkers(w);
        await sleep(2_000);
        await Promise.all([startWorkerProc(w), startWorkerProc(w)]);
      });
      return {};
    },
  },
  {
    name: 'sigstop-past-the-lock-then-sigcont',
    async run(w) {
      const victim = w.workers[0]!;
      // Stopped past JOB_LOCK_MS (5 s) and two stall checks: another worker takes its jobs; the stale
      // runs finish late and the fence keeps them out (each discarded write audited).
      const since = new Date();
      await underLoad(w, { ms: 14_000, delayMs: () => 1_000 }, () =>
        outage(
          9_000,
          () => victim.child.kill('SIGSTOP'),
          () => victim.child.kill('SIGCONT'),
        ),
      );
      await sleep(1_500); // the stale runs' tools end after SIGCONT; their writes meet the fence
      const [{ n }] = (await sql(w)`select count(*)::int as n from audit_events where tenant_id = ${w.s.tenant.id}
        and action = ${STALE_RESULT_DISCARDED} and at >= ${since.toISOString()}::timestamptz`) as unknown as [{ n: number }];
      return { measured: { stale_writes_discarded_and_audited: n } };
    },
  },
  {
    name: 'redis-restarted-empty-with-workers-dead',
    async run(w) {
      await underLoad(w, { ms: 12_000, delayMs: () => 1_500, faultAfterMs: 2_500 }, async () => {
        await killAllWorkers(w);
        await w.redis.kill();
        await sleep(1_000);
        await w.redis.restart(); // empty: every job is gone, running rows included
        await sleep(1_000);
        await Promise.all([startWorkerProc(w), startWorkerProc(w)]);
      });
      return {};
    },
  },
  {
    name: 'postgres-unreachable-at-the-api',
    async run(w) {
      // Refused for half the outage, then blackholed (connects hang; the connect timeout answers).
      const half = PG_OUTAGE_MS / 2;
      await underLoad(w, { ms: PG_OUTAGE_MS + 6_000, delayMs: () => 200 }, async () => {
        await outage(
          half,
          () => w.pgProxy.down(),
          () => w.pgProxy.stall(),
        );
        await outage(
          half,
          () => undefined,
          async () => {
            w.pgProxy.unstall();
            await w.pgProxy.up();
          },
        );
      });
      return {};
    },
  },
  {
    name: 'worker-sigkill-at-random-points',
    async run(w) {
      // Short calls and repeated kills: some land between the tool's effect and the commit.
      await underLoad(w, { ms: 10_000, clients: 8, delayMs: random(40), faultAfterMs: 0 }, async () => {
        for (let i = 0; i < 3; i++) {
          await sleep(1_000 + random(1_000)());
          await replaceWorker(w, w.workers[i % w.workers.length]!);
        }
      });
      return {};
    },
  },
  {
    name: 'rolling-worker-restarts',
    async run(w) {
      await underLoad(w, { ms: 12_000, delayMs: random(800), faultAfterMs: 0 }, async () => {
        for (let i = 0; i < 2; i++) {
          await sleep(1_500);
          const old = w.workers[0]!;
          await startWorkerProc(w);
          await kill(old, 'SIGTERM');
          w.workers.splice(w.workers.indexOf(old), 1);
        }
      });
      return {};
    },
  },
  {
    name: 'redis-killed-and-restarted-empty-workers-alive',
    async run(w) {
      await underLoad(w, { ms: 10_000, delayMs: () => 1_000, faultAfterMs: 2_500 }, async () => {
        await w.redis.kill();
        await w.redis.restart();
      });
      return {};
    },
  },
  {
    name: 'redis-unreachable-past-the-drain-delay',
    async run(w) {
      // SIGSTOP: connections stay open and nothing answers, longer than BullMQ's drain delay (5 s).
      await underLoad(w, { ms: 14_000, delayMs: () => 300 }, () =>
        outage(
          8_000,
          () => w.redis.signal('SIGSTOP'),
          () => w.redis.signal('SIGCONT'),
        ),
      );
      return {};
    },
  },
  {
    name: 'postgres-unreachable-at-the-workers',
    async run(w) {
      await underLoad(w, { ms: PG_OUTAGE_MS + 6_000, delayMs: () => 300 }, () =>
        outage(
          PG_OUTAGE_MS,
          () => w.pgWorkerProxy.down(),
          () => w.pgWorkerProxy.up(),
        ),
      );
      return {};
    },
  },
  {
    name: 'api-sigterm-under-load',
    async run(w) {
      const port2 = await freePort();
      const second = await startApiProc(w, port2);
      const urls = [mcpUrl(w), mcpUrl(w, port2)];
      let rot = 0;
      // Clients spread over both replicas, and move to the other one when refused.
      await underLoad(
        w,
        { ms: 10_000, clients: 8, delayMs: () => 1_000 + random(1_000)(), urls: () => (rot++ % 2 ? urls : [urls[1]!, urls[0]!]), faultAfterMs: 3_000 },
        async () => {
          const first = w.apis[0]!;
          const code = await stopApi(w, first);
          if (code !== 0) throw new Error(`API exited ${code} after SIGTERM`);
          await startApiProc(w);
        },
      );
      await stopApi(w, second);
      return {};
    },
  },
  {
    name: 'api-drain-single-replica',
    async run(w) {
      // The only replica drains (what went wrong before drains were fixed): readiness must fail first, no call may be
      // recorded after SIGTERM (new requests on keep-alive connections are refused), and no request in
      // flight may be reset (a reset after the row committed is a call whose client has no id).
      const api = w.apis[0]!;
      const from = w.ops.length;
      let sigtermAt = 0;
      let readyDraining = 0;
      let exitedAt = 0;
      await underLoad(w, { ms: 10_000, delayMs: () => 1_000 + random(1_000)(), faultAfterMs: 3_000 }, async () => {
        sigtermAt = Date.now();
        const exited = api.exited.then((code) => ((exitedAt = Date.now()), code));
        api.child.kill('SIGTERM');
        let done = false;
        void exited.then(() => (done = true));
        while (!done) {
          const r = await fetch(`${w.s.config.PUBLIC_URL}/readyz`).catch(() => undefined);
          if (r?.status === 503 && ((await r.json()) as { draining?: boolean }).draining) readyDraining++;
          await sleep(100);
        }
        const code = await exited;
        w.apis.splice(w.apis.indexOf(api), 1);
        await startApiProc(w);
        if (code !== 0) throw new Error(`API exited ${code} after SIGTERM`);
      });
      // Rows recorded after the SIGTERM (a request already in the handler at the signal has ~250 ms).
      const [{ n: late }] = (await sql(w)`select count(*)::int as n from tool_calls where tenant_id = ${w.s.tenant.id}
        and created_at > to_timestamp(${(sigtermAt + 250) / 1000}) and created_at < to_timestamp(${exitedAt / 1000})`) as unknown as [{ n: number }];
      // A reset of a request that had been running a while (the echo calls take ≥ 1 s): an in-flight reset.
      const resets = w.ops
        .slice(from)
        .flatMap((o) => o.answers)
        .filter((a) => a.answer === 'error' && a.ms >= 500).length;
      const problems = [
        readyDraining === 0 ? '/readyz never answered draining' : '',
        late > 0 ? `${late} calls recorded after SIGTERM` : '',
        resets > 0 ? `${resets} requests in flight were reset` : '',
      ].filter(Boolean);
      if (problems.length) throw new Error(problems.join('; '));
      return { measured: { drain_ms: exitedAt - sigtermAt, readyz_draining_answers: readyDraining } };
    },
  },
  {
    name: 'worker-metrics-port-taken',
    async run(w) {
      // A former start-up defect: a worker whose metrics port is taken joined the queue, took jobs,
      // then died on EADDRINUSE, stranding them until the stall check. Now it must exit before taking any.
      await killAllWorkers(w);
      let started = 0;
      let queued = 0;
      await underLoad(w, { ms: 5_000, delayMs: () => 100, faultAfterMs: 1_000 }, async () => {
        const blocker = createServer();
        const port = await freePort();
        await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
        try {
          const bad = spawnApp('worker', w.workerEnv, { WORKER_METRICS_PORT: String(port) });
          bad.ready.catch(() => undefined);
          const code = await Promise.race([bad.exited, sleep(20_000).then(() => 'still running' as const)]);
          await kill(bad);
          if (code === 0 || code === 'still running') throw new Error(`the worker with a taken metrics port did not fail at start (${code})`);
        } finally {
          blocker.close();
        }
        const ids = await idsWithStatus(w, 'queued');
        queued = ids.length;
        started = await withQueue(
          w,
          async (queue) => (await Promise.all(ids.map((id) => queue.getJob(id)))).filter((j) => (j?.attemptsStarted ?? 0) > 0).length,
        );
        await Promise.all([startWorkerProc(w), startWorkerProc(w)]);
      });
      if (queued === 0) throw new Error('no call was waiting while the misconfigured worker started: the scenario proved nothing');
      if (started > 0) throw new Error(`${started} jobs were taken by the worker that failed at start`);
      return { measured: { queued_while_failing_worker_started: queued } };
    },
  },
  {
    name: 'poison-job-and-malformed-flood',
    async run(w) {
      const scope = w.s.scope;
      const user = await scope.users.upsert({ issuer: w.s.idp.issuer, subject: 'alice' });
      const id = `call_${randomBytes(16).toString('base64url').slice(0, 22)}`;
      await underLoad(w, { ms: 8_000, clients: 4, faultAfterMs: 0 }, () =>
        withQueue(w, async (queue, conn) => {
          await scope.toolCalls.insert({ id, userId: user.id, tool: 'echo', arguments: { message: 'poison' } });
          await queue.add('echo', { v: 1 }, { jobId: id, delay: 1_000 });
          await conn.hset(`${w.s.config.QUEUE_PREFIX}:tool-calls:${id}`, 'data', '{"corrupt');
          // A flood of malformed jobs (wrong shapes, unknown call ids): refused at once, the worker goes on.
          await queue.addBulk(
            Array.from({ length: 200 }, (_, i) => ({ name: 'echo', data: { v: i % 3, junk: 'x'.repeat(i % 50), callId: i % 2 ? 42 : 'call_nope' } })),
          );
        }),
      );
      return { poisonCallIds: [id] };
    },
  },
];

/** SIGTERM an API process and wait for its exit code. */
async function stopApi(w: World, api: World['apis'][number]): Promise<number | null> {
  const exited = api.exited;
  api.child.kill('SIGTERM');
  const code = await exited;
  w.apis.splice(w.apis.indexOf(api), 1);
  return code;
}
