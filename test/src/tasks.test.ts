import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { z } from 'zod';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { freePort } from './harness/free-port.js';
import { startStack, type Stack } from './harness/stack.js';
import { answerProblems, strictWire } from './harness/strict-wire.js';
import { startEchoProbe, type EchoProbe, type ProbeEvent } from './harness/echo-probe.js';
import { refusal } from './harness/refusal.js';
import { waitFor, sleep } from './harness/wait-for.js';

/**
 * Against the real stack (Postgres, Redis, oidc-provider, in-process worker) with
 * the official SDK v2 client speaking 2026-07-28: MCP tasks (`io.modelcontextprotocol/tasks`), plain
 * calls that outlive the wait, and cancellation that reaches the tool in the worker.
 *
 * The SDK 2.4.0 client has no tasks runtime: a tools/call answered with `resultType: "task"` is
 * rejected by `callTool` as an unsupported result type. The test client records the raw answers its
 * own transport received (a fetch wrapper), so the CreateTaskResult is read from what the server sent.
 * The schemas below only pick fields out; every raw answer is also checked against the revision's
 * published schemas, nested results included (harness/strict-wire.ts, after each test). The official
 * tasks client drives the same life cycle in tasks-official-client.test.ts.
 */
const TASKS = 'io.modelcontextprotocol/tasks';

const taskSchema = z.looseObject({
  taskId: z.string(),
  status: z.enum(['working', 'input_required', 'completed', 'failed', 'cancelled']),
  createdAt: z.string(),
  lastUpdatedAt: z.string(),
  ttlMs: z.number().nullable(),
  pollIntervalMs: z.number().optional(),
  result: z.looseObject({ content: z.array(z.unknown()), structuredContent: z.unknown().optional(), isError: z.boolean().optional() }).optional(),
});
type Task = z.infer<typeof taskSchema>;
const emptySchema = z.looseObject({});
/** An acknowledgement: an empty result (the server identifies itself in `_meta`, as 2026-07-28 asks). */
const ack = (r: Record<string, unknown>) => Object.keys(r).filter((k) => k !== '_meta');

/** Every answer any test client of this file received, checked against the published schemas. */
const wire = strictWire();

/** A v2 client (2026-07-28), optionally declaring the tasks extension, that keeps the raw results it received. */
async function connect(url: string, token: string, opts: { tasks: boolean }) {
  const raw = new Map<number | string, Record<string, unknown>>();
  const contentTypes: string[] = [];
  const recording: typeof fetch = async (input, init) => {
    const res = await wire.fetch(input, init);
    const type = res.headers.get('content-type') ?? '';
    contentTypes.push(type);
    if (type.startsWith('application/json')) {
      const text = await res.clone().text();
      try {
        const m = JSON.parse(text) as { id?: number | string; result?: Record<string, unknown> };
        if (m.id !== undefined && m.result) raw.set(m.id, m.result);
      } catch {
        /* not ours to judge */
      }
    }
    return res;
  };
  const client = new Client(
    { name: 'tasks-test', version: '1.0.0' },
    { versionNegotiation: { mode: 'auto' }, capabilities: opts.tasks ? { extensions: { [TASKS]: {} } } : {} },
  );
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } }, fetch: recording }));
  return {
    client,
    contentTypes,
    /** tools/call, expecting the server to answer with a task: the CreateTaskResult as sent. */
    async callAsTask(name: string, args: Record<string, unknown>): Promise<Task & { resultType: string }> {
      const before = new Set(raw.keys());
      await expect(client.callTool({ name, arguments: args })).rejects.toThrow(/Unsupported result type 'task'/);
      const id = [...raw.keys()].find((k) => !before.has(k));
      const result = raw.get(id!)!;
      return { ...taskSchema.parse(result), resultType: result.resultType as string };
    },
    get: (taskId: string) => client.request({ method: 'tasks/get', params: { taskId } }, taskSchema),
    cancel: (taskId: string) => client.request({ method: 'tasks/cancel', params: { taskId } }, emptySchema),
    update: (taskId: string) => client.request({ method: 'tasks/update', params: { taskId, inputResponses: {} } }, emptySchema),
    close: () => client.close(),
  };
}

describe('MCP tasks, long calls and cancellation', () => {
  let s: Stack;
  let probe: EchoProbe;
  let probeUrl: string;
  /** What echo reported from inside the worker: its start, end, and the abort it observed. */
  const events: ProbeEvent[] = [];
  let aliceId: string;

  beforeAll(async () => {
    s = await startStack({
      label: 'tasks',
      env: { TASK_WAIT_MS: '200', CALL_WAIT_MS: '2500', PROGRESS_INTERVAL_MS: '200', PROGRESS_WAIT_MS: '10000', TASK_POLL_INTERVAL_MS: '250' },
    });
    aliceId = (await s.connectUser('alice')).user.id;
    await s.connectUser('bob');
    probe = await startEchoProbe(events);
    probeUrl = probe.url;
  }, 60_000);
  afterAll(async () => {
    await probe?.close();
    await s?.close();
  });
  afterEach(async () => {
    expect(await wire.problems()).toEqual([]);
  });

  const saw = (event: string, message: string) => probe.saw(event, message);

  it('server/discover advertises the tasks extension (and, at a built-in tenant, its authorization extensions)', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: true });
    expect(alice.client.getServerCapabilities()?.extensions).toEqual({
      [TASKS]: {},
      'io.modelcontextprotocol/oauth-client-credentials': {},
      'io.modelcontextprotocol/enterprise-managed-authorization': {},
    });
    await alice.close();
  });

  it('a slow call from a client declaring the extension becomes a task; tasks/get goes working → completed with the plain call’s result', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: true });
    const task = await alice.callAsTask('echo', { message: 'as-task', delayMs: 1200 });
    expect(task).toMatchObject({ resultType: 'task', status: 'working', ttlMs: 24 * 3600_000, pollIntervalMs: 250 });
    // The task id is the call id: the task is stored in tool_calls (any replica answers it).
    expect(task.taskId).toMatch(/^call_[A-Za-z0-9_-]{22}$/);
    const [row] = await s.db.sql`select user_id, tool from tool_calls where tenant_id = ${s.tenant.id} and id = ${task.taskId}`;
    expect(row).toEqual({ user_id: aliceId, tool: 'echo' });

    expect((await alice.get(task.taskId)).status).toBe('working');
    const done = await waitFor('completed', async () => {
      const t = await alice.get(task.taskId);
      return t.status === 'completed' ? t : undefined;
    });
    // The same result a plain call of the same tool and arguments gets (ids aside).
    const plain = await connect(s.mcpUrl, await s.token('alice'), { tasks: false });
    const direct = await plain.client.callTool({ name: 'echo', arguments: { message: 'as-task', delayMs: 0 } });
    expect(done.result!.isError).toBeFalsy();
    expect(done.result!.structuredContent).toEqual({ message: 'as-task', ranAs: 'alice' });
    expect(done.result!.content).toEqual(direct.content);
    expect(done.result!.structuredContent).toEqual(direct.structuredContent);
    // tasks/update: acknowledged (no task of ours ever waits for input).
    expect(ack(await alice.update(task.taskId))).toEqual([]);
    await Promise.all([alice.close(), plain.close()]);
  });

  it('a fast call from a declaring client is answered at once, not as a task', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: true });
    const res = await alice.client.callTool({ name: 'echo', arguments: { message: 'quick' } });
    expect(res.structuredContent).toEqual({ message: 'quick', ranAs: 'alice' });
    await alice.close();
  });

  it('a client without the extension never gets a task, and its tasks/* requests answer -32021', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: false });
    // Slower than TASK_WAIT_MS, within CALL_WAIT_MS: a declaring client would have had a task.
    const res = await alice.client.callTool({ name: 'echo', arguments: { message: 'no-task', delayMs: 800 } });
    expect(res.structuredContent).toEqual({ message: 'no-task', ranAs: 'alice' });
    const [row] = await s.db.sql`select id from tool_calls where tenant_id = ${s.tenant.id} and arguments->>'message' = 'no-task'`;
    expect(await refusal(alice.get(row!.id as string))).toMatchObject({ code: -32021 });
    await alice.close();
  });

  it('tasks/cancel on a running task aborts the tool in the worker; the task stays cancelled', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: true });
    const task = await alice.callAsTask('echo', { message: 'cancel-me', delayMs: 20_000, probeUrl });
    await saw('start', 'cancel-me');
    expect(ack(await alice.cancel(task.taskId))).toEqual([]);
    // The tool itself observed the abort, in the worker (its signal fired via the cancel channel).
    await saw('aborted', 'cancel-me');
    expect((await alice.get(task.taskId)).status).toBe('cancelled');
    // One audit row says who cancelled.
    const audit = await s.db.sql`select action, decision, reason from audit_events where tenant_id = ${s.tenant.id} and call_id = ${task.taskId} order by id`;
    expect(audit.map((a) => a.action)).toEqual(['tool_call.accepted', 'tool_call.cancelled']);
    expect(audit[1]).toMatchObject({ decision: 'info', reason: `cancelled_by:user:${aliceId}` });
    // A late result of the work (any attempt) is dropped by the fence: the task stays cancelled.
    const late = await s.db.calls.finish(s.tenant.id, {
      id: task.taskId,
      attempt: 99,
      elapsedMs: 1,
      outcome: { status: 'succeeded', result: { message: 'late', ranAs: 'alice' } },
      audit: { userId: aliceId, clientId: null, tool: 'echo', requestId: null },
    });
    expect(late).toBe(false);
    await sleep(300);
    expect((await alice.get(task.taskId)).status).toBe('cancelled');
    expect(events.some((e) => e.event === 'end' && e.message === 'cancel-me')).toBe(false);
    await alice.close();
  });

  it('bob cannot get, update or cancel alice’s task: the same answer as an unknown id', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: true });
    const bob = await connect(s.mcpUrl, await s.token('bob'), { tasks: true });
    const task = await alice.callAsTask('echo', { message: 'alice-only', delayMs: 1500 });
    const unknown = 'call_AAAAAAAAAAAAAAAAAAAAAA';
    for (const op of ['get', 'update', 'cancel'] as const) {
      const theirs = await refusal(bob[op](task.taskId));
      const none = await refusal(bob[op](unknown));
      expect(theirs).toEqual(none);
      expect(theirs.code).toBe(-32602);
    }
    // Bob's cancel changed nothing: alice's task completes.
    const done = await waitFor('completed', async () => {
      const t = await alice.get(task.taskId);
      return t.status === 'completed' ? t : undefined;
    });
    expect(done.result!.structuredContent).toEqual({ message: 'alice-only', ranAs: 'alice' });
    await Promise.all([alice.close(), bob.close()]);
  });

  it('a 2025-11-25 request asking for task augmentation (params.task) gets a plain answer: that revision’s tasks are not offered', async () => {
    const res = await s.post(
      { jsonrpc: '2.0', id: 7, method: 'tools/call', params: { name: 'echo', arguments: { message: 'legacy-task', delayMs: 600 }, task: { ttl: 60_000 } } },
      { authorization: `Bearer ${await s.token('alice')}`, 'mcp-protocol-version': '2025-11-25' },
    );
    const body = (await res.json()) as { result: Record<string, unknown> };
    expect(answerProblems('tools/call', false, body)).toEqual([]);
    expect(body.result).not.toHaveProperty('task');
    expect(body.result.structuredContent).toEqual({ message: 'legacy-task', ranAs: 'alice' });
  });

  it('a task created at one API process is served by another (two API processes on one Postgres and Redis)', async () => {
    const port = await freePort();
    // Same PUBLIC_URL (tokens carry that audience), another port and process.
    const other: AppProcess = spawnApp('api', { ...s.env, PORT: String(port) });
    try {
      await other.ready;
      const alice1 = await connect(s.mcpUrl, await s.token('alice'), { tasks: true });
      const alice2 = await connect(`http://127.0.0.1:${port}/t/${s.tenant.slug}/mcp`, await s.token('alice'), { tasks: true });
      const task = await alice1.callAsTask('echo', { message: 'elsewhere', delayMs: 800 });
      const done = await waitFor('completed at the other process', async () => {
        const t = await alice2.get(task.taskId);
        return t.status === 'completed' ? t : undefined;
      });
      expect(done.result!.structuredContent).toEqual({ message: 'elsewhere', ranAs: 'alice' });
      // And a cancel at the other process reaches the worker too.
      const slow = await alice1.callAsTask('echo', { message: 'cancel-elsewhere', delayMs: 20_000, probeUrl });
      await saw('start', 'cancel-elsewhere');
      await alice2.cancel(slow.taskId);
      await saw('aborted', 'cancel-elsewhere');
      expect((await alice1.get(slow.taskId)).status).toBe('cancelled');
      await Promise.all([alice1.close(), alice2.close()]);
    } finally {
      other.child.kill('SIGTERM');
      await other.exited;
    }
  }, 60_000);

  it('a plain call with a progressToken gets progress notifications and its result over SSE', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: false });
    const progress: { progress: number; message?: string }[] = [];
    const res = await alice.client.callTool(
      { name: 'echo', arguments: { message: 'with-progress', delayMs: 1000 } },
      { onprogress: (p) => progress.push(p), resetTimeoutOnProgress: true },
    );
    expect(res.structuredContent).toEqual({ message: 'with-progress', ranAs: 'alice' });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    expect(progress.map((p) => p.progress)).toEqual([...progress.map((p) => p.progress)].sort((a, b) => a - b));
    expect(progress[0]!.message).toMatch(/^Tool call call_[A-Za-z0-9_-]{22} is still running\.$/);
    expect(alice.contentTypes).toContain('text/event-stream');
    await alice.close();
  });

  it('a 2025-11-25 client (SDK v1) with a progressToken gets progress over SSE too', async () => {
    const v1 = new ClientV1({ name: 'tasks-test-v1', version: '1.0.0' });
    await v1.connect(
      new TransportV1(new URL(s.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${await s.token('alice')}` } }, fetch: wire.fetch }),
    );
    const progress: unknown[] = [];
    const res = await v1.callTool({ name: 'echo', arguments: { message: 'v1-progress', delayMs: 1000 } }, undefined, {
      onprogress: (p) => progress.push(p),
      resetTimeoutOnProgress: true,
    });
    expect(res.structuredContent).toEqual({ message: 'v1-progress', ranAs: 'alice' });
    expect(progress.length).toBeGreaterThanOrEqual(2);
    await v1.close();
  });

  it('past the wait, a plain call gets a non-error "still running" answer; tool_call_result later returns the real result (own calls only)', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: false });
    const res = await alice.client.callTool({ name: 'echo', arguments: { message: 'outlives', delayMs: 3500 } });
    // Not an error, and it conforms to the advertised output schema (the SDK client checked it).
    expect(res.isError).toBeFalsy();
    const pending = res.structuredContent as { callStatus: string; callId: string; resultUrl: string; resultTool: string };
    expect(pending).toMatchObject({ callStatus: expect.stringMatching(/queued|running/), resultTool: 'tool_call_result' });
    expect(pending.resultUrl).toBe(`${s.config.PUBLIC_URL}/t/${s.tenant.slug}/v1/tool-calls/${pending.callId}`);
    expect((res.content as { text: string }[])[0]!.text).toContain(pending.callId);
    expect((res.content as { text: string }[])[0]!.text).toContain('tool_call_result');

    // Bob asking for alice's call: the same answer as for an id that does not exist.
    const bob = await connect(s.mcpUrl, await s.token('bob'), { tasks: false });
    const theirs = await bob.client.callTool({ name: 'tool_call_result', arguments: { callId: pending.callId } });
    const none = await bob.client.callTool({ name: 'tool_call_result', arguments: { callId: 'call_AAAAAAAAAAAAAAAAAAAAAA' } });
    expect(theirs.isError).toBe(true);
    expect(theirs.content).toEqual(
      (none.content as { text: string }[]).map((c) => ({ ...c, text: c.text.replace('call_AAAAAAAAAAAAAAAAAAAAAA', pending.callId) })),
    );

    // Alice's tool_call_result waits for it and returns the real result.
    const real = await waitFor('the real result', async () => {
      const r = await alice.client.callTool({ name: 'tool_call_result', arguments: { callId: pending.callId } });
      return (r.structuredContent as { callStatus?: string } | undefined)?.callStatus ? undefined : r;
    });
    expect(real.isError).toBeFalsy();
    expect(real.structuredContent).toEqual({ message: 'outlives', ranAs: 'alice' });
    await Promise.all([alice.close(), bob.close()]);
  }, 30_000);

  it('REST cancel: own call cancelled (tool aborted, answer 200, then 409); another user’s or an unknown id 404; no token 401', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: false });
    const answer = alice.client.callTool({ name: 'echo', arguments: { message: 'rest-cancel', delayMs: 20_000, probeUrl } });
    await saw('start', 'rest-cancel');
    const [row] = await s.db.sql`select id from tool_calls where tenant_id = ${s.tenant.id} and arguments->>'message' = 'rest-cancel'`;
    const url = `${s.config.PUBLIC_URL}/t/${s.tenant.slug}/v1/tool-calls/${row!.id as string}/cancel`;
    const post = async (u: string, token?: string) => fetch(u, { method: 'POST', headers: token ? { authorization: `Bearer ${token}` } : {} });

    const asBob = await post(url, await s.token('bob'));
    const unknown = await post(url.replace(row!.id as string, 'call_AAAAAAAAAAAAAAAAAAAAAA'), await s.token('bob'));
    expect(asBob.status).toBe(404);
    const body = async (r: Response) => {
      const { request_id: _id, ...rest } = (await r.json()) as Record<string, unknown>;
      return rest;
    };
    expect(await body(asBob)).toEqual(await body(unknown));
    expect((await post(url)).status).toBe(401);

    const mine = await post(url, await s.token('alice'));
    expect(mine.status).toBe(200);
    expect(await mine.json()).toMatchObject({ id: row!.id, status: 'cancelled', error: { code: 'cancelled' } });
    await saw('aborted', 'rest-cancel');
    // The waiting MCP request is answered at once with the cancelled state (the bell rang).
    const res = await answer;
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toContain('cancelled');
    const again = await post(url, await s.token('alice'));
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({ error: { code: 'call_final' }, call: { status: 'cancelled' } });
    await alice.close();
  });

  it('a queued call cancelled before any worker takes it never runs', async () => {
    await s.stopWorker();
    try {
      const token = await s.token('alice');
      const alice = await connect(s.mcpUrl, token, { tasks: true });
      const task = await alice.callAsTask('echo', { message: 'never-runs', probeUrl });
      await alice.cancel(task.taskId);
      await s.startWorker();
      await sleep(500);
      expect(events.some((e) => e.message === 'never-runs')).toBe(false);
      expect((await alice.get(task.taskId)).status).toBe('cancelled');
      await alice.close();
    } finally {
      if (!s.worker) await s.startWorker();
    }
  });

  it('a 2026-07-28 client that cancels its plain request (closes the stream) cancels the call; a 2025 client’s notifications/cancelled too', async () => {
    const alice = await connect(s.mcpUrl, await s.token('alice'), { tasks: false });
    const abort = new AbortController();
    const answer = alice.client.callTool({ name: 'echo', arguments: { message: 'modern-abort', delayMs: 20_000, probeUrl } }, { signal: abort.signal });
    answer.catch(() => undefined);
    await saw('start', 'modern-abort');
    abort.abort();
    await saw('aborted', 'modern-abort');
    await alice.close();

    const v1 = new ClientV1({ name: 'tasks-test-v1', version: '1.0.0' });
    await v1.connect(
      new TransportV1(new URL(s.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${await s.token('alice')}` } }, fetch: wire.fetch }),
    );
    const abort1 = new AbortController();
    const answer1 = v1.callTool({ name: 'echo', arguments: { message: 'legacy-abort', delayMs: 20_000, probeUrl } }, undefined, { signal: abort1.signal });
    answer1.catch(() => undefined);
    await saw('start', 'legacy-abort');
    abort1.abort('user stop');
    await saw('aborted', 'legacy-abort');
    const [row] = await s.db.sql`select status from tool_calls where tenant_id = ${s.tenant.id} and arguments->>'message' = 'legacy-abort'`;
    expect(row!.status).toBe('cancelled');
    await v1.close();
  });
});
