import { createServer } from 'node:net';
import { Writable } from 'node:stream';
import { startApi, type RunningApi } from '@mcprt/api';
import { createLogger } from '@mcprt/observability';
import { startWorker } from '@mcprt/worker';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { freePort } from './harness/free-port.js';
import { startStack, type Stack } from './harness/stack.js';
import { startTcpProxy } from './harness/tcp-proxy.js';
import { waitFor, sleep } from './harness/wait-for.js';
import { openRedis } from './harness/redis.js';

/** Recovery from injected faults: lost jobs, an unreachable database, a drain, poison jobs and start-up order. */

const callBody = (id: number, message: string, delayMs = 0) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message, delayMs } },
});
const mcpHeaders = (token: string) => ({ authorization: `Bearer ${token}`, 'mcp-protocol-version': '2025-06-18' });
const rowOf = async (s: Stack, message: string) => {
  const [row] = await s.db.sql`select id, status, attempt from tool_calls where tenant_id = ${s.tenant.id} and arguments->>'message' = ${message}`;
  return row as { id: string; status: string; attempt: number } | undefined;
};

describe('a running call whose job Redis lost while its worker was dead is recovered', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'f-lost', worker: 'none' });
  });
  afterAll(() => s?.close());

  it('the reconciler re-enqueues it and the call completes once', async () => {
    const token = await s.token('alice');
    const answer = s.post(callBody(1, 'stranded'), mcpHeaders(token));
    const row = await waitFor('recorded', () => rowOf(s, 'stranded'));
    // What a worker leaves behind when it dies after marking the call running, then Redis loses its data.
    await s.db.sql`update tool_calls set status = 'running', attempt = 1, started_at = now() - interval '1 minute' where id = ${row.id}`;
    const queue = new Queue('tool-calls', { connection: openRedis(s.config), prefix: s.config.QUEUE_PREFIX });
    await queue.obliterate({ force: true });
    await queue.close();
    await s.startWorker();
    const done = await waitFor(
      'call final',
      async () => {
        const r = await rowOf(s, 'stranded');
        return r?.status === 'succeeded' ? r : undefined;
      },
      15_000,
    );
    expect(done.attempt).toBe(1);
    const [{ n }] = (await s.db.sql`select count(*)::int as n from audit_events where call_id = ${row.id} and action = 'tool_call.succeeded'`) as unknown as [
      { n: number },
    ];
    expect(n).toBe(1);
    expect((await answer).status).toBe(200);
  });
});

describe('Postgres unreachable at the API', () => {
  let s: Stack;
  let api: RunningApi;
  let pg: Awaited<ReturnType<typeof startTcpProxy>>;
  const lines: string[] = [];
  let token: string;
  let url: string;
  beforeAll(async () => {
    s = await startStack({ label: 'f-pg', api: 'none', worker: 'none' });
    const u = new URL(s.config.DATABASE_URL);
    pg = await startTcpProxy({ host: u.hostname, port: Number(u.port || 5432) });
    u.port = String(pg.port);
    const destination = new Writable({
      write(chunk: Buffer, _enc, cb) {
        lines.push(chunk.toString());
        cb();
      },
    });
    api = await startApi(
      { ...s.config, DATABASE_URL: u.toString(), DATABASE_CONNECT_TIMEOUT_MS: 1000, CALL_WAIT_MS: 10_000 },
      { migrate: false, reconciler: false, log: createLogger({ name: 'api', level: 'info', destination }) },
    );
    url = `${api.url}/t/${s.tenant.slug}/mcp`;
    token = await s.token('alice');
    // Warm the tenant and user caches: the outage then hits the call path itself.
    expect((await s.post({ jsonrpc: '2.0', id: 0, method: 'tools/list' }, mcpHeaders(token), url)).status).toBe(200);
  });
  afterAll(async () => {
    await api?.stop();
    await pg?.close();
    await s?.close();
  });
  afterEach(async () => {
    pg.unstall();
    await pg.up().catch(() => undefined);
  });

  it('a recorded call whose wait cannot read the database answers with its call id, not an error', async () => {
    const answer = s.post(callBody(1, 'recorded-then-down'), mcpHeaders(token), url);
    await waitFor('recorded', () => rowOf(s, 'recorded-then-down'));
    await pg.down();
    const res = await answer;
    const body = (await res.json()) as { result?: { _meta?: Record<string, { id?: string; status?: string }> }; error?: unknown };
    expect(body.error).toBeUndefined();
    const row = await rowOf(s, 'recorded-then-down');
    expect(body.result?._meta?.['io.mcprt/call']?.id).toBe(row!.id);
  });

  it('refused or blackholed: HTTP 503 with Retry-After and a specific retryable error, fast, no driver text, logged once', async () => {
    for (const mode of ['down', 'stall'] as const) {
      if (mode === 'down') await pg.down();
      else pg.stall();
      for (let i = 0; i < 3; i++) {
        const t0 = Date.now();
        const res = await s.post(callBody(10 + i, `during-outage-${mode}-${i}`), mcpHeaders(token), url);
        const elapsed = Date.now() - t0;
        const text = await res.text();
        expect(res.status, text).toBe(503);
        expect(res.headers.get('retry-after')).toBe(String(s.config.RETRY_AFTER_S));
        const body = JSON.parse(text) as { error: { code: number; message: string; data?: { code?: string; retryable?: boolean } } };
        expect(body.error.code).toBe(-32053);
        expect(body.error.data).toMatchObject({ code: 'database_unavailable', retryable: true });
        expect(text).not.toMatch(/ECONNREFUSED|CONNECT_TIMEOUT|5432|127\.0\.0\.1:\d/);
        expect(elapsed, `${mode} #${i}`).toBeLessThan(4_000);
      }
      // A tenant not in the cache fails in the middleware chain: the same 503, as plain JSON.
      const cold = await s.post(callBody(20, 'cold'), mcpHeaders(token), `${api.url}/t/no-such-${mode}/mcp`);
      expect(cold.status).toBe(503);
      expect(cold.headers.get('retry-after')).toBeTruthy();
      expect(await cold.text()).not.toMatch(/ECONNREFUSED|CONNECT_TIMEOUT/);
      pg.unstall();
      await pg.up().catch(() => undefined);
      await waitFor(
        'recovery logged',
        async () => (lines.filter((l) => l.includes('postgres reachable again')).length >= (mode === 'down' ? 1 : 2) ? true : undefined),
        10_000,
      );
    }
    expect(lines.filter((l) => l.includes('postgres unreachable')).length).toBe(2); // once per outage
  });
});

describe('API drain on SIGTERM', () => {
  let s: Stack;
  let api: AppProcess | undefined;
  beforeAll(async () => {
    s = await startStack({ label: 'f-drain', api: 'none' });
  });
  afterAll(async () => {
    api?.child.kill('SIGKILL');
    await s?.close();
  });

  it('/readyz fails first, new requests are refused with Connection: close, in-flight calls finish, then exit 0', async () => {
    api = spawnApp('api', s.env, { SHUTDOWN_GRACE_MS: '8000' });
    await api.ready;
    const token = await s.token('alice');
    const inFlight = [0, 1, 2].map((i) => s.post(callBody(i, `in-flight-${i}`, 1500), mcpHeaders(token)));
    await waitFor('running', async () => ((await rowOf(s, 'in-flight-2')) ? true : undefined));
    api.child.kill('SIGTERM');
    await sleep(100);
    const base = s.config.PUBLIC_URL;
    const ready = await fetch(`${base}/readyz`);
    expect(ready.status).toBe(503);
    expect(await ready.json()).toMatchObject({ draining: true });
    const late = await s.post(callBody(9, 'after-sigterm'), mcpHeaders(token));
    expect(late.status).toBe(503);
    expect(late.headers.get('connection')).toBe('close');
    expect(late.headers.get('retry-after')).toBeTruthy();
    expect(await rowOf(s, 'after-sigterm')).toBeUndefined();
    for (const [i, p] of inFlight.entries()) {
      const res = await p;
      expect(res.status).toBe(200);
      const body = (await res.json()) as { result?: { content?: { text?: string }[] } };
      expect(body.result?.content?.[0]?.text).toContain(`in-flight-${i}`);
    }
    expect(await api.exited).toBe(0);
  });
});

describe('poison jobs, failover defaults, startup order', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'f-poison', worker: 'none', env: { JOB_LOCK_MS: '1000', JOB_STALLED_INTERVAL_MS: '500', JOB_MAX_STALLED: '1' } });
  });
  afterAll(() => s?.close());
  afterEach(() => s.stopWorker());

  it('a worker whose metrics port is taken fails before it takes any job', async () => {
    const token = await s.token('alice');
    void s.post(callBody(1, 'waits-for-a-worker'), mcpHeaders(token)).catch(() => undefined);
    const row = await waitFor('recorded', () => rowOf(s, 'waits-for-a-worker'));
    const blocker = createServer();
    const port = await freePort();
    await new Promise<void>((r) => blocker.listen(port, '127.0.0.1', r));
    try {
      await expect(startWorker({ ...s.config, WORKER_METRICS_PORT: port }, { migrate: false })).rejects.toThrow(/EADDRINUSE/);
      await sleep(1500);
      expect((await rowOf(s, 'waits-for-a-worker'))?.status).toBe('queued');
      const queue = new Queue('tool-calls', { connection: openRedis(s.config), prefix: s.config.QUEUE_PREFIX });
      expect((await queue.getJob(row.id))?.attemptsStarted ?? 0).toBe(0);
      await queue.close();
    } finally {
      blocker.close();
    }
    await s.startWorker(); // the waiting call is served by a healthy worker
    await waitFor('served', async () => ((await rowOf(s, 'waits-for-a-worker'))?.status === 'succeeded' ? true : undefined));
  });

  it('a job whose Redis record is corrupt goes to failed instead of stalling forever; its call is failed and audited', async () => {
    const token = await s.token('alice');
    void s.post(callBody(2, 'poison'), mcpHeaders(token)).catch(() => undefined);
    const row = await waitFor('recorded', () => rowOf(s, 'poison'));
    const redis = openRedis(s.config);
    const key = `${s.config.QUEUE_PREFIX}:tool-calls:${row.id}`;
    await waitFor('job added', async () => ((await redis.exists(key)) ? true : undefined));
    await redis.hset(key, 'data', '{"corrupt');
    await s.startWorker();
    const failed = await waitFor('call failed', async () => ((await rowOf(s, 'poison'))?.status === 'failed' ? true : undefined), 20_000);
    expect(failed).toBe(true);
    const [{ n }] = (await s.db.sql`select count(*)::int as n from audit_events where call_id = ${row.id} and action = 'tool_call.failed'`) as unknown as [
      { n: number },
    ];
    expect(n).toBe(1);
    const queue = new Queue('tool-calls', { connection: openRedis(s.config), prefix: s.config.QUEUE_PREFIX });
    expect(await queue.getJobState(row.id)).toBe('failed');
    await queue.close();
    await redis.quit();
  });
});
