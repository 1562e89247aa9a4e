import { CALL_META, type CallMeta } from '@mcprt/api';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';
import { freePort } from './harness/free-port.js';
import { startTcpProxy } from './harness/tcp-proxy.js';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { waitFor } from './harness/wait-for.js';

describe('a worker killed with SIGKILL mid-call does not lose the call', () => {
  let s: Stack;
  // Short locks so the stalled job comes back in ~2–3 s instead of the default lock's minute.
  const fast = { JOB_LOCK_MS: '2000', JOB_STALLED_INTERVAL_MS: '1000' };
  // Workers a test started and did not stop (it failed early) must not serve the next test's calls.
  const spawned: AppProcess[] = [];
  const spawn = (extra: Record<string, string> = {}) => {
    const w = spawnApp('worker', s.env, extra);
    spawned.push(w);
    return w;
  };
  beforeAll(async () => {
    s = await startStack({ label: 'kill', worker: 'none', env: { ...fast, CALL_WAIT_MS: '30000' } });
  });
  afterEach(async () => {
    for (const w of spawned.splice(0)) {
      if (w.child.exitCode === null && w.child.signalCode === null) {
        w.child.kill('SIGKILL');
        await w.exited;
      }
    }
  });
  afterAll(() => s?.close());

  it('the call completes on another worker, once, with a newer attempt', async () => {
    const first = spawn();
    await first.ready;
    const client = await s.client(await s.token('alice'));
    const pending = client.callTool({ name: 'echo', arguments: { message: 'survivor', delayMs: 1500 } }, { timeout: 60_000 });

    const running = await waitFor('call running', async () => {
      const [row] = await s.db.sql`select id, status, attempt from tool_calls where tenant_id = ${s.tenant.id} and status = 'running'`;
      return row;
    });
    first.child.kill('SIGKILL');
    expect(await first.exited).toBe(null);

    const metricsPort = await freePort();
    const second = spawn({ WORKER_METRICS_PORT: String(metricsPort) });
    await second.ready;
    const res = CallToolResultSchema.parse(await pending);
    expect(res.isError).toBeFalsy();
    expect(res.structuredContent).toEqual({ message: 'survivor', ranAs: 'alice' });

    const row = (await s.scope.toolCalls.byId(running.id))!;
    expect(row.status).toBe('succeeded');
    expect(row.attempt).toBeGreaterThanOrEqual(2);
    const audit = await s.scope.audit.forCall(running.id);
    expect(audit.map((a) => a.action)).toEqual(['tool_call.accepted', 'tool_call.succeeded']);

    // The worker that finished it counts it (its own /metrics; counted just after the commit that woke us).
    const counted = /mcprt_tool_calls_total\{[^}]*tool="echo"[^}]*outcome="succeeded"[^}]*\} 1/;
    await waitFor(
      'the worker metric',
      async () => (counted.test(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()) ? true : undefined),
      5_000,
    );

    second.child.kill('SIGTERM');
    expect(await second.exited).toBe(0);
  });

  it('SIGTERM lets the active call finish before the worker exits', async () => {
    const w = spawn();
    await w.ready;
    const client = await s.client(await s.token('bob'));
    const pending = client.callTool({ name: 'echo', arguments: { message: 'graceful', delayMs: 1000 } }, { timeout: 60_000 });
    const running = await waitFor('call running', async () => {
      const [row] = await s.db.sql`select id from tool_calls where tenant_id = ${s.tenant.id} and status = 'running'`;
      return row;
    });
    w.child.kill('SIGTERM');
    expect(await w.exited).toBe(0);
    // It finished during the drain: the row is final without any other worker.
    expect((await s.scope.toolCalls.byId(running.id))!.status).toBe('succeeded');
    expect(CallToolResultSchema.parse(await pending).structuredContent).toEqual({ message: 'graceful', ranAs: 'bob' });
    expect(w.output()).toContain('worker stopped cleanly');
  });
});

describe('Redis unavailable at enqueue time does not lose an accepted call', () => {
  let s: Stack;
  let proxy: Awaited<ReturnType<typeof startTcpProxy>>;
  beforeAll(async () => {
    proxy = await startTcpProxy({ host: '127.0.0.1', port: 6379 });
    s = await startStack({ label: 'redis-down', apiRedisUrl: `redis://127.0.0.1:${proxy.port}`, env: { CALL_WAIT_MS: '3000', ENQUEUE_TIMEOUT_MS: '500' } });
  });
  afterAll(async () => {
    await s?.close();
    await proxy?.close();
  });

  it('the call is recorded, answered with its id, and enqueued by the reconciler once Redis is back', async () => {
    const token = await s.token('alice');
    const client = await s.client(token);
    await proxy.down();
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'echo', arguments: { message: 'kept' } }));
    const meta = res._meta?.[CALL_META] as CallMeta;
    expect(meta.status).toBe('queued');
    // Committed before the answer: the row and its accepted audit row exist.
    expect((await s.scope.toolCalls.byId(meta.id))!.status).toBe('queued');
    expect((await s.scope.audit.forCall(meta.id)).map((a) => a.action)).toEqual(['tool_call.accepted']);

    await proxy.up();
    const done = await waitFor('reconciled call to finish', async () => {
      const row = await s.scope.toolCalls.byId(meta.id);
      return row?.status === 'succeeded' ? row : undefined;
    });
    expect(done.result).toEqual({ message: 'kept', ranAs: 'alice' });
    const view = await (await fetch(meta.pollUrl, { headers: { authorization: `Bearer ${token}` } })).json();
    expect(view).toMatchObject({ status: 'succeeded', result: { structuredContent: { message: 'kept', ranAs: 'alice' } } });
  });
});
