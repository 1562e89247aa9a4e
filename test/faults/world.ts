/**
 * The fault suite's world: the services and processes it owns, and its clients. Faults are
 * injected only into these: its own API and worker processes (real entry points), a private
 * `redis-server` on a free port, and TCP proxies in front of the machine's Postgres (one for the API,
 * one for the workers) — never the shared Postgres or Redis themselves.
 */
import type { ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ensureDatabase, runMigrations } from '@mcprt/db';
import { spawnApp, type AppProcess } from '../src/harness/app-process.js';
import { startStack, type Stack } from '../src/harness/stack.js';
import { startTcpProxy } from '../src/harness/tcp-proxy.js';
import { clusterRedis, singleRedis, type RedisService } from './redis-service.js';
import { TEST_APP_DATABASE_URL, TEST_DATABASE_URL } from '../src/harness/test-config.js';

const CALL_WAIT_MS = 20_000;
/** No request may take longer than this (the API answers within CALL_WAIT_MS, with the id at worst). */
export const HANG_MS = CALL_WAIT_MS + 5_000;
/** After healing, every acknowledged call must be final within this. */
export const HEAL_MS = 45_000;
/** A killed worker's call must be back within this (lock 5 s + 2 × stall check 2 s; the target is 10 s). */
export const FAILOVER_BOUND_MS = 12_000;

export type Answer = 'result' | 'pending' | 'unavailable' | 'error' | 'hung';
export interface Op {
  n: number;
  message: string;
  submitted: number;
  acknowledged?: number;
  callId?: string;
  answers: { answer: Answer; ms: number; detail?: string }[];
}

export const log = (...a: unknown[]) => console.log(`[faults ${new Date().toISOString().slice(11, 19)}]`, ...a);

// ---------------------------------------------------------------------------------------------------
// Services and processes the suite owns.

export async function kill(p: { child: ChildProcess } | undefined, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  const child = p && 'child' in p ? p.child : p;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill(signal);
  await exited;
}

const alive = (p: AppProcess) => p.child.exitCode === null && p.child.signalCode === null;

// ---------------------------------------------------------------------------------------------------
// The world: one tenant, the IdP, Postgres through a proxy for the API, a private Redis.

export interface World {
  s: Stack;
  /** The private Redis (one node, or a cluster with `--redis-cluster`), which the Redis scenarios fault. */
  redis: RedisService;
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

export async function startWorld(opts: { redisCluster?: boolean } = {}): Promise<World> {
  await ensureDatabase(TEST_DATABASE_URL);
  await runMigrations(TEST_DATABASE_URL, { appUrl: TEST_APP_DATABASE_URL });
  const queuePrefix = `{faults-${randomBytes(4).toString('hex')}}`;
  const redis = opts.redisCluster ? await clusterRedis(queuePrefix) : await singleRedis();
  const env = {
    ...redis.env,
    QUEUE_PREFIX: queuePrefix,
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
  // The suite measures faults, not the call-rate limits: its load is over the default
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

export async function startApiProc(w: World, port?: number, extra: Record<string, string> = {}): Promise<AppProcess> {
  const p = port ?? Number(w.s.env.PORT);
  const api = spawnApp('api', { ...w.apiEnv, PORT: String(p), PUBLIC_URL: w.s.config.PUBLIC_URL }, extra);
  await api.ready;
  w.apis.push(api);
  return api;
}

export async function startWorkerProc(w: World, extra: Record<string, string> = {}): Promise<AppProcess> {
  const worker = spawnApp('worker', w.workerEnv, extra);
  await worker.ready;
  w.workers.push(worker);
  return worker;
}

/** Kill (or stop) one worker process and start its replacement. */
export async function replaceWorker(w: World, victim: AppProcess, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
  await kill(victim, signal);
  w.workers.splice(w.workers.indexOf(victim), 1);
  await startWorkerProc(w);
}

/** Kill every worker process at once (they are started again by `startWorkerProc` or `heal`). */
export async function killAllWorkers(w: World): Promise<void> {
  await Promise.all(w.workers.splice(0).map((p) => kill(p)));
}

/** Every fault undone: proxies up, Redis and workers resumed, a healthy world (one API, two workers). */
export async function heal(w: World): Promise<void> {
  w.pgProxy.unstall();
  await w.pgProxy.up().catch(() => undefined);
  await w.pgWorkerProxy.up().catch(() => undefined);
  w.redis.signal('SIGCONT');
  for (const p of w.workers) if (alive(p)) p.child.kill('SIGCONT');
  w.workers = w.workers.filter(alive);
  w.apis = w.apis.filter(alive);
  if (w.apis.length === 0) await startApiProc(w);
  await Promise.all(Array.from({ length: Math.max(0, 2 - w.workers.length) }, () => startWorkerProc(w)));
}

export async function closeWorld(w: World): Promise<void> {
  await Promise.all([...w.apis, ...w.workers].map((p) => kill(p)));
  await w.s.close().catch(() => undefined);
  await w.pgProxy.close();
  await w.pgWorkerProxy.close();
  await w.redis.close();
}

export const mcpUrl = (w: World, port?: number) => (port ? `http://127.0.0.1:${port}` : w.s.config.PUBLIC_URL) + `/t/${w.s.tenant.slug}/mcp`;

// ---------------------------------------------------------------------------------------------------
// Clients.

/** One operation: an echo call with its own message and idempotency key, retried on retryable refusals. */
export async function runOp(w: World, urls: () => string[], delayMs: number, retryForMs = 30_000): Promise<Op> {
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
export function load(w: World, clients: number, stop: Promise<void>, opts: { delayMs?: () => number; urls?: () => string[] } = {}): Promise<void> {
  let done = false;
  void stop.then(() => (done = true));
  const urls = opts.urls ?? (() => [mcpUrl(w)]);
  const one = async () => {
    while (!done) await runOp(w, urls, opts.delayMs?.() ?? Math.floor(Math.random() * 300));
  };
  return Promise.all(Array.from({ length: clients }, one)).then(() => undefined);
}

export interface LoadShape {
  /** How long the clients run. */
  ms: number;
  /** Concurrent client loops (default 6). */
  clients?: number;
  /** Each call's `delayMs` (the tool's run time; default 0–300 ms at random). */
  delayMs?: () => number;
  urls?: () => string[];
  /** When the fault starts, after the load did (default 2 s). */
  faultAfterMs?: number;
}

/**
 * The shape of almost every scenario: clients run for `ms`; after `faultAfterMs` the fault is
 * injected (it may wait and undo itself); then the load is awaited. Returns what the fault returned.
 */
export async function underLoad<T>(w: World, shape: LoadShape, fault: () => Promise<T>): Promise<T> {
  const l = load(w, shape.clients ?? 6, sleep(shape.ms), {
    ...(shape.delayMs ? { delayMs: shape.delayMs } : {}),
    ...(shape.urls ? { urls: shape.urls } : {}),
  });
  try {
    await sleep(shape.faultAfterMs ?? 2_000);
    return await fault();
  } finally {
    await l;
  }
}

/** A fault held for `ms`: `down()`, wait, `up()` (also when the wait is interrupted). */
export async function outage(ms: number, down: () => unknown, up: () => unknown): Promise<void> {
  await down();
  try {
    await sleep(ms);
  } finally {
    await up();
  }
}
