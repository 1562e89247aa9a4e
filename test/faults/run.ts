/**
 * The fault suite (issue 12): `pnpm test:faults [--only <scenario>[,<scenario>…]]`.
 *
 * Jepsen-style: clients record every operation (submitted, acknowledged, answer) while a nemesis
 * injects faults into processes and services this suite starts itself — its own API and worker
 * processes (real entry points), a private `redis-server` on a free port, and a TCP proxy in front of
 * the machine's Postgres (never the shared Postgres or Redis themselves). After each scenario the
 * faults are healed and invariants are checked over the history and the database:
 *
 * - lost: an acknowledged call (the client got its id) that is not in the database;
 * - stuck: an acknowledged call not final within HEAL_MS after healing;
 * - duplicated: a call with more than one finishing audit row, or one operation recorded as two calls;
 * - hung: a request that took longer than HANG_MS;
 * - wrong: a succeeded call whose result is not its input, or an answer that is neither a result, a
 *   call id, nor a retryable refusal (a driver's text, a -32603, a reset after the row committed).
 *
 * The last line is `fault_scenarios=<n> acknowledged=<n> lost=0 stuck=0 duplicated=0 hung=0`; the exit
 * code is non-zero if any invariant failed.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDatabase, runMigrations } from '@mcprt/db';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { spawnApp, type AppProcess } from '../src/harness/app-process.js';
import { freePort } from '../src/harness/free-port.js';
import { startStack, type Stack } from '../src/harness/stack.js';
import { startTcpProxy } from '../src/harness/tcp-proxy.js';
import { TEST_APP_DATABASE_URL, TEST_DATABASE_URL } from '../src/harness/test-config.js';

const CALL_WAIT_MS = 20_000;
/** No request may take longer than this (the API answers within CALL_WAIT_MS, with the id at worst). */
const HANG_MS = CALL_WAIT_MS + 5_000;
/** After healing, every acknowledged call must be final within this. */
const HEAL_MS = 45_000;
/** A killed worker's call must be back within this (lock 5 s + 2 × stall check 2 s, issue 12's target 10 s). */
const FAILOVER_BOUND_MS = 12_000;

type Answer = 'result' | 'pending' | 'unavailable' | 'error' | 'hung';
interface Op {
  n: number;
  message: string;
  submitted: number;
  acknowledged?: number;
  callId?: string;
  answers: { answer: Answer; ms: number; detail?: string }[];
}

const log = (...a: unknown[]) => console.log(`[faults ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---------------------------------------------------------------------------------------------------
// Services and processes the suite owns.

async function startRedis(port: number): Promise<ChildProcess> {
  const child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
  const probe = new Redis({ port, host: '127.0.0.1', lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
  probe.on('error', () => undefined);
  for (let i = 0; i < 100; i++) {
    if (
      await probe.connect().then(
        () => probe.ping(),
        () => undefined,
      )
    )
      break;
    probe.disconnect();
    await sleep(50);
  }
  probe.disconnect();
  process.once('exit', () => child.kill('SIGKILL'));
  return child;
}

async function kill(p: { child: ChildProcess } | ChildProcess | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const child = p && 'child' in p ? p.child : p;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

// ---------------------------------------------------------------------------------------------------
// The world: one tenant, the IdP, Postgres through a proxy for the API, a private Redis.

interface World {
  s: Stack;
  redisPort: number;
  redis: ChildProcess;
  pgProxy: Awaited<ReturnType<typeof startTcpProxy>>;
  /** The workers' own way to Postgres, cut separately from the API's. */
  pgWorkerProxy: Awaited<ReturnType<typeof startTcpProxy>>;
  apiEnv: Record<string, string>;
  workerEnv: Record<string, string>;
  apis: AppProcess[];
  workers: AppProcess[];
  token: string;
  ops: Op[];
  nextOp: number;
}

async function startWorld(): Promise<World> {
  await ensureDatabase(TEST_DATABASE_URL);
  await runMigrations(TEST_DATABASE_URL, { appUrl: TEST_APP_DATABASE_URL });
  const redisPort = await freePort();
  const redis = await startRedis(redisPort);
  const env = {
    REDIS_URL: `redis://127.0.0.1:${redisPort}`,
    CALL_WAIT_MS: String(CALL_WAIT_MS),
    // The production defaults for locks and stalls (JOB_LOCK_MS 5 s, JOB_STALLED_INTERVAL_MS 2 s): the
    // failover they give is what the suite measures. The reconciler runs often to keep the suite short.
    RECONCILE_INTERVAL_MS: '1000',
    RECONCILE_AFTER_MS: '3000',
    SHUTDOWN_GRACE_MS: '10000',
    WORKER_CONCURRENCY: '8',
    DATABASE_CONNECT_TIMEOUT_MS: '1000',
  };
  const s = await startStack({ label: 'faults', api: 'none', worker: 'none', env });
  // The suite measures faults, not the call-rate limits (issue 9): its load is over the default
  // per-user rate, so the tenant's rates are set out of reach (as the benchmark does).
  await s.db
    .sql`update tenants set limits = limits || ${JSON.stringify({ perUserRatePerMinute: 10_000_000, tenantRatePerMinute: 10_000_000 })}::jsonb where id = ${s.tenant.id}`;
  const u = new URL(s.config.DATABASE_URL);
  const pgProxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  const pgWorkerProxy = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
  const wu = new URL(u.toString());
  wu.port = String(pgWorkerProxy.port);
  u.port = String(pgProxy.port);
  const world: World = {
    s,
    redisPort,
    redis,
    pgProxy,
    pgWorkerProxy,
    apiEnv: { ...s.env, DATABASE_URL: u.toString() },
    workerEnv: { ...s.env, DATABASE_URL: wu.toString() },
    apis: [],
    workers: [],
    token: await s.token('alice', { ttlSeconds: 3600 }),
    ops: [],
    nextOp: 0,
  };
  return world;
}

async function startApiProc(w: World, port?: number): Promise<AppProcess> {
  const p = port ?? Number(w.s.env.PORT);
  const api = spawnApp('api', { ...w.apiEnv, PORT: String(p), PUBLIC_URL: w.s.config.PUBLIC_URL });
  await api.ready;
  w.apis.push(api);
  return api;
}

async function startWorkerProc(w: World): Promise<AppProcess> {
  const worker = spawnApp('worker', w.workerEnv);
  await worker.ready;
  w.workers.push(worker);
  return worker;
}

const alive = (p: AppProcess) => p.child.exitCode === null && p.child.signalCode === null;

// ---------------------------------------------------------------------------------------------------
// Clients.

/** One operation: an echo call with its own message and idempotency key, retried on retryable refusals. */
async function runOp(w: World, urls: () => string[], delayMs: number, retryForMs = 30_000): Promise<Op> {
  const n = w.nextOp++;
  const message = `op-${n}-${randomBytes(4).toString('hex')}`;
  const op: Op = { n, message, submitted: Date.now(), answers: [] };
  w.ops.push(op);
  const until = Date.now() + retryForMs;
  for (let attempt = 0; ; attempt++) {
    const list = urls();
    const url = list[attempt % list.length]!;
    const t0 = Date.now();
    let answer: Answer;
    let detail: string | undefined;
    try {
      const res = await fetch(url, {
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          accept: 'application/json, text/event-stream',
          authorization: `Bearer ${w.token}`,
          'mcp-protocol-version': '2025-06-18',
        },
        body: JSON.stringify({
          jsonrpc: '2.0',
          id: n,
          method: 'tools/call',
          params: { name: 'echo', arguments: { message, delayMs }, _meta: { 'io.mcprt/idempotency-key': message } },
        }),
        signal: AbortSignal.timeout(HANG_MS),
      });
      const text = await res.text();
      let body: {
        result?: { isError?: boolean; structuredContent?: { message?: string }; _meta?: Record<string, { id?: string; status?: string }> };
        error?: { code?: number; data?: { retryable?: boolean } };
      } = {};
      try {
        body = JSON.parse(text) as typeof body;
      } catch {
        // not JSON: judged below
      }
      const meta = body.result?._meta?.['io.mcprt/call'];
      const refusal = (body.result?._meta?.['io.mcprt/error'] as { code?: string } | undefined)?.code;
      if (res.status === 200 && meta?.id) {
        op.callId = meta.id;
        op.acknowledged ??= Date.now();
        answer = meta.status === 'succeeded' || meta.status === 'failed' ? 'result' : 'pending';
        if (meta.status === 'succeeded' && body.result?.structuredContent?.message !== message) detail = 'answer does not carry its own message';
      } else if (res.status === 200 && refusal === 'too_many_pending') {
        answer = 'unavailable'; // admission control: retryable, nothing recorded
      } else if (res.status === 503 && res.headers.get('retry-after') && !/ECONN|CONNECT_TIMEOUT|\d+\.\d+\.\d+\.\d+:\d+/.test(text)) {
        answer = 'unavailable';
      } else {
        answer = 'error';
        detail = `${res.status} ${text.slice(0, 200)}`;
      }
    } catch (e) {
      const code = (e as { cause?: { code?: string }; name?: string }).cause?.code ?? (e as { name?: string }).name;
      // Refused before anything was sent: safe to retry elsewhere. A timeout is a hang.
      answer = (e as { name?: string }).name === 'TimeoutError' ? 'hung' : code === 'ECONNREFUSED' ? 'unavailable' : 'error';
      detail = String(code);
    }
    op.answers.push({ answer, ms: Date.now() - t0, ...(detail ? { detail } : {}) });
    // A reset connection is ambiguous: the idempotency key makes the retry safe, and the history keeps it.
    if ((answer === 'unavailable' || answer === 'error') && Date.now() < until) {
      await sleep(answer === 'unavailable' ? 300 : 200);
      continue;
    }
    return op;
  }
}

/** `clients` loops of operations until `stop` resolves. */
function load(w: World, clients: number, stop: Promise<void>, opts: { delayMs?: () => number; urls?: () => string[] } = {}): Promise<void> {
  let done = false;
  void stop.then(() => (done = true));
  const urls = opts.urls ?? (() => [`${w.s.config.PUBLIC_URL}/t/${w.s.tenant.slug}/mcp`]);
  const one = async () => {
    while (!done) await runOp(w, urls, opts.delayMs?.() ?? Math.floor(Math.random() * 300));
  };
  return Promise.all(Array.from({ length: clients }, one)).then(() => undefined);
}

// ---------------------------------------------------------------------------------------------------
// Invariants.

interface Verdict {
  acknowledged: number;
  lost: number;
  stuck: number;
  duplicated: number;
  hung: number;
  wrong: number;
  notes: string[];
}

async function check(w: World, ops: Op[], extra: { poisonCallIds?: string[] } = {}): Promise<Verdict> {
  const sql = w.s.db.sql;
  const acked = ops.filter((o) => o.callId);
  const ids = acked.map((o) => o.callId!);
  const notes: string[] = [];
  const deadline = Date.now() + HEAL_MS;
  let rows: { id: string; status: string; message: string; result: { message?: string } | null }[] = [];
  for (;;) {
    rows = (await sql`select id, status, arguments->>'message' as message, result, error from tool_calls where id = any(${ids})`) as unknown as typeof rows;
    if (rows.every((r) => r.status === 'succeeded' || r.status === 'failed' || r.status === 'cancelled') || Date.now() > deadline) break;
    await sleep(250);
  }
  const byId = new Map(rows.map((r) => [r.id, r]));
  const lost = acked.filter((o) => !byId.has(o.callId!)).length;
  const stuckRows = rows.filter((r) => r.status === 'queued' || r.status === 'running');
  let wrong = 0;
  for (const o of acked) {
    const r = byId.get(o.callId!);
    if (r && (r.message !== o.message || (r.status === 'succeeded' && r.result?.message !== o.message))) wrong++;
    // An echo call has no reason to fail: a failed one is a fault that leaked into an outcome.
    if (r?.status === 'failed') wrong++;
    if (r?.status === 'failed') notes.push(`${o.callId} failed: ${JSON.stringify((r as { error?: unknown }).error)}`);
  }
  for (const o of ops) {
    for (const a of o.answers) if (a.answer === 'error' && !/UND_ERR_SOCKET|ECONNRESET|other side closed/.test(a.detail ?? '')) wrong++;
    for (const a of o.answers) if (a.detail === 'answer does not carry its own message') wrong++;
    for (const a of o.answers) if (a.answer === 'error') notes.push(`op ${o.n}: ${a.detail ?? ''}`);
    if (!o.callId && o.answers.some((a) => a.answer !== 'unavailable')) notes.push(`op ${o.n} never acknowledged: ${JSON.stringify(o.answers.slice(-2))}`);
  }
  // Recorded, but the client never got its id: the defect the idempotency key papers over.
  const messages = ops.filter((o) => !o.callId).map((o) => o.message);
  const orphans =
    (await sql`select count(*)::int as n from tool_calls where tenant_id = ${w.s.tenant.id} and arguments->>'message' = any(${messages})`) as unknown as [
      { n: number },
    ];
  if (orphans[0].n > 0) {
    wrong += orphans[0].n;
    notes.push(`${orphans[0].n} recorded calls whose client got no id`);
  }
  const all = ops.map((o) => o.message);
  const [dupCalls] = (await sql`
    select count(*)::int as n from (select arguments->>'message' from tool_calls where tenant_id = ${w.s.tenant.id} and arguments->>'message' = any(${all})
    group by 1 having count(*) > 1) x`) as unknown as [{ n: number }];
  const allIds = [...ids, ...(extra.poisonCallIds ?? [])];
  const [dupAudit] = (await sql`
    select count(*)::int as n from (select call_id from audit_events where call_id = any(${allIds}) and action in ('tool_call.succeeded', 'tool_call.failed')
    group by 1 having count(*) > 1) x`) as unknown as [{ n: number }];
  const hung = ops.reduce((k, o) => k + o.answers.filter((a) => a.answer === 'hung' || a.ms > HANG_MS).length, 0);
  for (const id of extra.poisonCallIds ?? []) {
    const [row] = (await sql`select status from tool_calls where id = ${id}`) as unknown as [{ status: string } | undefined];
    const [{ n }] = (await sql`select count(*)::int as n from audit_events where call_id = ${id} and action = 'tool_call.failed'`) as unknown as [
      { n: number },
    ];
    if (row?.status !== 'failed' || n !== 1) {
      wrong++;
      notes.push(`poison ${id}: status ${row?.status}, failed audits ${n}`);
    }
  }
  return { acknowledged: acked.length, lost, stuck: stuckRows.length, duplicated: dupCalls.n + dupAudit.n, hung, wrong, notes };
}

// ---------------------------------------------------------------------------------------------------
// Scenarios: each starts from a healthy world (one API, two workers) and leaves one.

type Scenario = { name: string; run(w: World): Promise<{ poisonCallIds?: string[]; measured?: Record<string, number> }> };

const mcpUrl = (w: World) => `${w.s.config.PUBLIC_URL}/t/${w.s.tenant.slug}/mcp`;

/** When did the calls that were running on a killed worker become final, relative to the kill? */
async function failoverMs(w: World, killedAt: number, runningIds: string[]): Promise<number> {
  if (runningIds.length === 0) return 0;
  const rows = (await w.s.db.sql`select extract(epoch from finished_at) * 1000 as t from tool_calls where id = any(${runningIds})`) as unknown as {
    t: string | null;
  }[];
  return Math.max(...rows.map((r) => (r.t ? Number(r.t) - killedAt : Infinity)));
}

const runningNow = async (w: World) =>
  ((await w.s.db.sql`select id from tool_calls where tenant_id = ${w.s.tenant.id} and status = 'running'`) as unknown as { id: string }[]).map((r) => r.id);

const scenarios: Scenario[] = [
  {
    name: 'worker-sigkill-mid-call',
    async run(w) {
      const stop = sleep(9_000);
      const l = load(w, 6, stop, { delayMs: () => 1_500 });
      await sleep(2_500);
      const victim = w.workers[0]!;
      const before = await runningNow(w);
      const killedAt = Date.now();
      await kill(victim);
      await l;
      await sleep(500);
      w.workers.splice(w.workers.indexOf(victim), 1);
      await startWorkerProc(w);
      // Calls that were running on either worker at the kill: the victim's come back via the stall check.
      for (let i = 0; i < 120 && (await runningNow(w)).some((id) => before.includes(id)); i++) await sleep(250);
      return { measured: { failover_ms: Math.round(await failoverMs(w, killedAt, before)) } };
    },
  },
  {
    name: 'all-workers-killed-and-restarted',
    async run(w) {
      const stop = sleep(8_000);
      const l = load(w, 6, stop, { delayMs: () => 800 });
      await sleep(2_000);
      await Promise.all(w.workers.splice(0).map((p) => kill(p)));
      await sleep(2_000);
      await startWorkerProc(w);
      await startWorkerProc(w);
      await l;
      return {};
    },
  },
  {
    name: 'sigstop-past-the-lock-then-sigcont',
    async run(w) {
      const stop = sleep(14_000);
      const l = load(w, 6, stop, { delayMs: () => 1_000 });
      await sleep(2_000);
      const victim = w.workers[0]!;
      victim.child.kill('SIGSTOP');
      await sleep(9_000); // past JOB_LOCK_MS (5 s) and two stall checks: another worker takes its jobs
      victim.child.kill('SIGCONT'); // the stale runs finish late; the fence keeps them out
      await l;
      return {};
    },
  },
  {
    name: 'redis-restarted-empty-with-workers-dead',
    async run(w) {
      const stop = sleep(12_000);
      const l = load(w, 6, stop, { delayMs: () => 1_500 });
      await sleep(2_500);
      await Promise.all(w.workers.splice(0).map((p) => kill(p)));
      await kill(w.redis);
      await sleep(1_000);
      w.redis = await startRedis(w.redisPort); // empty: every job is gone, running rows included
      await sleep(1_000);
      await startWorkerProc(w);
      await startWorkerProc(w);
      await l;
      return {};
    },
  },
  {
    name: 'postgres-unreachable-at-the-api',
    async run(w) {
      const stop = sleep(14_000);
      const l = load(w, 6, stop, { delayMs: () => 200 });
      await sleep(2_000);
      await w.pgProxy.down();
      await sleep(4_000);
      w.pgProxy.stall(); // blackholed: connects hang; the connect timeout answers
      await sleep(4_000);
      w.pgProxy.unstall();
      await w.pgProxy.up();
      await l;
      return {};
    },
  },
  {
    name: 'worker-sigkill-at-random-points',
    async run(w) {
      // Short calls and repeated kills: some land between the tool's effect and the commit.
      const stop = sleep(10_000);
      const l = load(w, 8, stop, { delayMs: () => Math.floor(Math.random() * 40) });
      for (let i = 0; i < 4; i++) {
        await sleep(1_000 + Math.floor(Math.random() * 1_000));
        const victim = w.workers[i % w.workers.length]!;
        await kill(victim);
        w.workers.splice(w.workers.indexOf(victim), 1);
        await startWorkerProc(w);
      }
      await l;
      return {};
    },
  },
  {
    name: 'rolling-worker-restarts',
    async run(w) {
      const stop = sleep(12_000);
      const l = load(w, 6, stop, { delayMs: () => Math.floor(Math.random() * 800) });
      for (let i = 0; i < 2; i++) {
        await sleep(1_500);
        const old = w.workers[0]!;
        await startWorkerProc(w);
        await kill(old, 'SIGTERM');
        w.workers.splice(w.workers.indexOf(old), 1);
      }
      await l;
      return {};
    },
  },
  {
    name: 'redis-killed-and-restarted-empty-workers-alive',
    async run(w) {
      const stop = sleep(10_000);
      const l = load(w, 6, stop, { delayMs: () => 1_000 });
      await sleep(2_500);
      await kill(w.redis);
      w.redis = await startRedis(w.redisPort);
      await l;
      return {};
    },
  },
  {
    name: 'redis-unreachable-past-the-drain-delay',
    async run(w) {
      // SIGSTOP: connections stay open and nothing answers, longer than BullMQ's drain delay (5 s).
      const stop = sleep(14_000);
      const l = load(w, 6, stop, { delayMs: () => 300 });
      await sleep(2_000);
      w.redis.kill('SIGSTOP');
      await sleep(8_000);
      w.redis.kill('SIGCONT');
      await l;
      return {};
    },
  },
  {
    name: 'postgres-unreachable-at-the-workers',
    async run(w) {
      const stop = sleep(14_000);
      const l = load(w, 6, stop, { delayMs: () => 300 });
      await sleep(2_000);
      await w.pgWorkerProxy.down();
      await sleep(8_000);
      await w.pgWorkerProxy.up();
      await l;
      return {};
    },
  },
  {
    name: 'api-sigterm-under-load',
    async run(w) {
      const port2 = await freePort();
      const second = await startApiProc(w, port2);
      const urls = [mcpUrl(w), `http://127.0.0.1:${port2}/t/${w.s.tenant.slug}/mcp`];
      let rot = 0;
      const stop = sleep(10_000);
      // Clients spread over both replicas, and move to the other one when refused.
      const l = load(w, 8, stop, { delayMs: () => 1_000 + Math.floor(Math.random() * 1_000), urls: () => (rot++ % 2 ? urls : [urls[1]!, urls[0]!]) });
      await sleep(3_000);
      const first = w.apis[0]!;
      const exited = first.exited;
      first.child.kill('SIGTERM');
      const code = await exited;
      w.apis.splice(w.apis.indexOf(first), 1);
      if (code !== 0) throw new Error(`API exited ${code} after SIGTERM`);
      await startApiProc(w);
      await l;
      await kill(second, 'SIGTERM');
      w.apis.splice(w.apis.indexOf(second), 1);
      return {};
    },
  },
  {
    name: 'poison-job-and-malformed-flood',
    async run(w) {
      const stop = sleep(8_000);
      const l = load(w, 4, stop);
      const scope = w.s.scope;
      const user = await scope.users.upsert({ issuer: w.s.idp.issuer, subject: 'alice' });
      const id = `call_${randomBytes(16).toString('base64url').slice(0, 22)}`;
      await scope.toolCalls.insert({ id, userId: user.id, tool: 'echo', arguments: { message: 'poison' } });
      const conn = new Redis(`redis://127.0.0.1:${w.redisPort}`, { maxRetriesPerRequest: null });
      const queue = new Queue('tool-calls', { connection: conn, prefix: w.s.config.QUEUE_PREFIX });
      await queue.add('echo', { v: 1 }, { jobId: id, delay: 1_000 });
      await conn.hset(`${w.s.config.QUEUE_PREFIX}:tool-calls:${id}`, 'data', '{"corrupt');
      // A flood of malformed jobs (wrong shapes, unknown call ids): refused at once, the worker goes on.
      await queue.addBulk(
        Array.from({ length: 200 }, (_, i) => ({ name: 'echo', data: { v: i % 3, junk: 'x'.repeat(i % 50), callId: i % 2 ? 42 : 'call_nope' } })),
      );
      await l;
      await queue.close();
      await conn.quit();
      return { poisonCallIds: [id] };
    },
  },
];

// ---------------------------------------------------------------------------------------------------

// ---------------------------------------------------------------------------------------------------
// Soak: `--soak 10m [--rate 200]` — steady load, no faults; resources sampled over time.

const rssMb = (pid: number | undefined): number => {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Math.round(Number(m[1]) / 1024) : NaN;
  } catch {
    return NaN;
  }
};

async function soak(durationMs: number, rate: number): Promise<number> {
  const w = await startWorld();
  const samples: { t: number; calls: number; redisMb: number; apiMb: number; workerMb: number; tableMb: number; rows: number }[] = [];
  try {
    const api = await startApiProc(w);
    const worker = await startWorkerProc(w);
    const redis = new Redis(`redis://127.0.0.1:${w.redisPort}`);
    const url = mcpUrl(w);
    const end = Date.now() + durationMs;
    let inFlight = 0;
    const pending: Promise<unknown>[] = [];
    const sample = async () => {
      const info = await redis.info('memory');
      const [t] = (await w.s.db.sql`select (pg_total_relation_size('tool_calls') + pg_total_relation_size('audit_events'))::float8 / 1048576 as mb,
        (select count(*) from tool_calls where tenant_id = ${w.s.tenant.id})::int as rows`) as unknown as [{ mb: number; rows: number }];
      const row = {
        t: Math.round((Date.now() - (end - durationMs)) / 1000),
        calls: w.ops.length,
        redisMb: Math.round(Number(/used_memory:(\d+)/.exec(info)?.[1] ?? NaN) / 1048576),
        apiMb: rssMb(api.child.pid),
        workerMb: rssMb(worker.child.pid),
        tableMb: Math.round(t.mb),
        rows: t.rows,
      };
      samples.push(row);
      log(
        `soak t=${row.t}s calls=${row.calls} redis_used_memory=${row.redisMb}MB api_rss=${row.apiMb}MB worker_rss=${row.workerMb}MB tables=${row.tableMb}MB rows=${row.rows}`,
      );
    };
    await sample();
    let next = Date.now() + 30_000;
    while (Date.now() < end) {
      // Open-loop arrivals at `rate` per second (bounded in flight so a stall cannot pile up forever).
      if (inFlight < 256) {
        inFlight++;
        pending.push(runOp(w, () => [url], 0, 5_000).finally(() => inFlight--));
      }
      if (pending.length > 10_000) pending.splice(0, 5_000);
      if (Date.now() >= next) {
        next += 30_000;
        void sample();
      }
      await sleep(1000 / rate);
    }
    await Promise.allSettled(pending);
    await sample();
    await redis.quit();
  } finally {
    await Promise.all([...w.apis, ...w.workers].map((p) => kill(p)));
    await w.s.close().catch(() => undefined);
    await w.pgProxy.close();
    await w.pgWorkerProxy.close();
    await kill(w.redis);
  }
  // Bounded: the last third's peak is within 25 % (+16 MB) of the middle third's peak, for Redis and both RSS.
  const third = Math.floor(samples.length / 3);
  const mid = samples.slice(third, 2 * third);
  const last = samples.slice(2 * third);
  const grew = (k: 'redisMb' | 'apiMb' | 'workerMb') => Math.max(...last.map((x) => x[k])) > Math.max(...mid.map((x) => x[k])) * 1.25 + 16;
  const bad = (['redisMb', 'apiMb', 'workerMb'] as const).filter(grew);
  const first = samples[1] ?? samples[0]!;
  const final = samples[samples.length - 1]!;
  const kbPerCall = ((final.tableMb - first.tableMb) * 1024) / Math.max(1, final.calls - first.calls);
  const errors = w.ops.filter((o) => !o.callId).length;
  log(`soak done: ${w.ops.length} calls, ${errors} unacknowledged, table growth ${kbPerCall.toFixed(2)} kB per call (rows are kept by design)`);
  console.log(`soak_seconds=${Math.round(durationMs / 1000)} calls=${w.ops.length} unbounded=${bad.join(',') || 'none'}`);
  return bad.length === 0 && errors === 0 ? 0 : 1;
}

async function main(): Promise<number> {
  const soakArg = process.argv.indexOf('--soak');
  if (soakArg > 0) {
    const m = /^(\d+)(s|m)$/.exec(process.argv[soakArg + 1] ?? '');
    if (!m) throw new Error('usage: --soak <n>m|<n>s [--rate <calls per second>]');
    const rateArg = process.argv.indexOf('--rate');
    const rate = rateArg > 0 ? Number(process.argv[rateArg + 1]) : 200;
    return soak(Number(m[1]) * (m[2] === 'm' ? 60_000 : 1_000), rate);
  }
  const onlyArg = process.argv.indexOf('--only');
  const only = onlyArg > 0 ? new Set((process.argv[onlyArg + 1] ?? '').split(',')) : undefined;
  const chosen = scenarios.filter((s) => !only || only.has(s.name));
  const started = Date.now();
  if (spawnSync('redis-server', ['--version']).status !== 0)
    throw new Error('redis-server is not installed: the suite runs a private one it can kill (apt-get install redis-server)');
  const w = await startWorld();
  const totals = { scenarios: 0, acknowledged: 0, lost: 0, stuck: 0, duplicated: 0, hung: 0, wrong: 0 };
  try {
    for (const sc of chosen) {
      if (w.apis.filter(alive).length === 0) await startApiProc(w);
      while (w.workers.filter(alive).length < 2) await startWorkerProc(w);
      const from = w.ops.length;
      const t0 = Date.now();
      let out: Awaited<ReturnType<Scenario['run']>> = {};
      let failure: string | undefined;
      try {
        out = await sc.run(w);
      } catch (e) {
        failure = e instanceof Error ? e.message : String(e);
      }
      // Heal: everything back up before the invariants are read.
      w.pgProxy.unstall();
      await w.pgProxy.up().catch(() => undefined);
      await w.pgWorkerProxy.up().catch(() => undefined);
      w.redis.kill('SIGCONT');
      for (const p of w.workers) if (alive(p)) p.child.kill('SIGCONT');
      while (w.workers.filter(alive).length < 2) await startWorkerProc(w);
      const v = await check(w, w.ops.slice(from), out);
      const failoverBad = out.measured?.failover_ms !== undefined && out.measured.failover_ms > FAILOVER_BOUND_MS;
      const ok = !failure && !failoverBad && v.lost + v.stuck + v.duplicated + v.hung + v.wrong === 0;
      const answers = w.ops.slice(from).flatMap((o) => o.answers.map((a) => a.answer));
      const count = (a: Answer) => answers.filter((x) => x === a).length;
      log(
        `${ok ? 'PASS' : 'FAIL'} ${sc.name} (${((Date.now() - t0) / 1000).toFixed(1)} s): ops=${w.ops.length - from} acknowledged=${v.acknowledged}`,
        `results=${count('result')} pending=${count('pending')} unavailable=${count('unavailable')} errors=${count('error')}`,
        `lost=${v.lost} stuck=${v.stuck} duplicated=${v.duplicated} hung=${v.hung} wrong=${v.wrong}`,
        out.measured ? JSON.stringify(out.measured) : '',
        failure ? `error: ${failure}` : '',
      );
      for (const n of v.notes.slice(0, 8)) log(`  note: ${n}`);
      totals.scenarios++;
      totals.acknowledged += v.acknowledged;
      totals.lost += v.lost;
      totals.stuck += v.stuck;
      totals.duplicated += v.duplicated;
      totals.hung += v.hung;
      totals.wrong += v.wrong + (failure || failoverBad ? 1 : 0);
    }
  } finally {
    await Promise.all([...w.apis, ...w.workers].map((p) => kill(p)));
    await w.s.close().catch(() => undefined);
    await w.pgProxy.close();
    await w.pgWorkerProxy.close();
    await kill(w.redis);
  }
  log(`done in ${((Date.now() - started) / 1000).toFixed(0)} s${totals.wrong ? `; ${totals.wrong} other invariant violations (see FAIL lines)` : ''}`);
  console.log(
    `fault_scenarios=${totals.scenarios} acknowledged=${totals.acknowledged} lost=${totals.lost} stuck=${totals.stuck} duplicated=${totals.duplicated} hung=${totals.hung}`,
  );
  return totals.lost + totals.stuck + totals.duplicated + totals.hung + totals.wrong === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e);
    console.log('fault_scenarios=0 acknowledged=0 lost=0 stuck=0 duplicated=0 hung=0');
    process.exit(1);
  },
);
