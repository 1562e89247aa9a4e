import { JsonRpcResponseError, resultFromTaskOutcome, TaskCancelledError, type TaskState } from '@modelcontextprotocol/ext-tasks/client';
import { taskId, type TaskId } from '@modelcontextprotocol/ext-tasks/core';
import type { CallToolResultV2 } from '@modelcontextprotocol/ext-tasks/core/v2';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';
import { strictWire, type StrictWire } from './harness/strict-wire.js';
import { connectTasksSession, type TasksSession } from './harness/tasks-session.js';
import { startEchoProbe, type EchoProbe, type ProbeEvent } from './harness/echo-probe.js';
import { waitFor } from './harness/wait-for.js';

/**
 * MCP tasks driven by the official tasks client only: `@modelcontextprotocol/ext-tasks` 0.2.2 on
 * `@modelcontextprotocol/client` 2.4.0 (harness/tasks-session.ts), against the real stack (Postgres,
 * Redis, the in-process worker). The whole life cycle — a tools/call that becomes a task, `working` →
 * `completed` read with `tasks/get`, the result handed to the application (`resultFromTaskOutcome`),
 * cancellation that stops the tool, another user's task id, resuming a task from its reference — in
 * 2026-07-28, and the 2025-11-25 path (plain calls: that revision's task augmentation is not offered).
 *
 * Besides what the client itself rejects, every answer the server sent on these connections is
 * checked against the revision's published schemas, nested results included (harness/strict-wire.ts).
 */
describe('MCP tasks through the official ext-tasks client', () => {
  let s: Stack;
  let probe: EchoProbe;
  let probeUrl: string;
  const events: ProbeEvent[] = [];
  const open: TasksSession[] = [];
  let wire: StrictWire;

  beforeAll(async () => {
    s = await startStack({
      label: 'ext-tasks',
      env: { TASK_WAIT_MS: '200', CALL_WAIT_MS: '2500', TASK_POLL_INTERVAL_MS: '100' },
    });
    await s.connectUser('alice');
    await s.connectUser('bob');
    probe = await startEchoProbe(events);
    probeUrl = probe.url;
  }, 60_000);
  afterAll(async () => {
    await probe?.close();
    await s?.close();
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((c) => c.close().catch(() => undefined)));
    // Every answer on the test's connections conforms to the published schema of its revision.
    expect(await wire.problems()).toEqual([]);
  });

  const connectSession = async (sub: string, era: 'modern' | 'legacy' = 'modern', endpointId?: string) => {
    wire ??= strictWire();
    const c = await connectTasksSession(s.mcpUrl, await s.token(sub), { era, fetch: wire.fetch, ...(endpointId ? { endpointId } : {}) });
    open.push(c);
    return c;
  };
  const session = async (sub: string, era: 'modern' | 'legacy' = 'modern', endpointId?: string) => (await connectSession(sub, era, endpointId)).session;
  const freshWire = () => {
    wire = strictWire();
  };

  const saw = (event: string, message: string) => probe.saw(event, message);
  const rpcError = async (p: Promise<unknown>) => {
    const e = await p.then(
      () => undefined,
      (err: unknown) => err,
    );
    expect(e).toBeInstanceOf(JsonRpcResponseError);
    return { code: (e as JsonRpcResponseError).code, message: (e as Error).message };
  };

  it('2026-07-28: a slow tool call becomes a task, goes working → completed, and the client gets the tool’s result', async () => {
    freshWire();
    const alice = await session('alice');
    expect(alice.capabilities.execution).toBe(true);
    const execution = await alice.callTool<CallToolResultV2>('echo', { message: 'official', delayMs: 1200 });
    expect(execution.kind).toBe('task');
    if (execution.kind !== 'task') return;
    expect(execution.handle.taskId).toMatch(/^call_[A-Za-z0-9_-]{22}$/);

    const statuses: TaskState[] = [];
    const { outcome } = await execution.settle({
      onEvent: (e) => {
        if (e.type === 'task') statuses.push(e.task.status);
      },
    });
    expect(statuses[0]).toBe('working');
    expect(outcome.status).toBe('completed');
    const result = resultFromTaskOutcome(outcome);
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toEqual({ message: 'official', ranAs: 'alice' });
    expect(result.content).toEqual([{ type: 'text', text: expect.stringContaining('official') }]);

    // The completed task can be read again later by id (a detached controller: tasks/get).
    const again = await alice.task(execution.handle.taskId).result<CallToolResultV2>();
    expect(again.status).toBe('completed');
    expect(resultFromTaskOutcome(again).structuredContent).toEqual({ message: 'official', ranAs: 'alice' });
    // The path really went through the tasks methods.
    await wire.settled();
    const methods = new Set(wire.seen.map((x) => `${x.method}:${(x.message.result as { status?: string } | undefined)?.status ?? ''}`));
    expect(methods).toContain('tasks/get:working');
    expect(methods).toContain('tasks/get:completed');
  });

  it('2026-07-28: a fast call is answered at once (no task), and a tool error is a completed result with isError', async () => {
    freshWire();
    const connected = await connectSession('alice');
    const alice = connected.session;
    // The tool list, as the client reads it (checked against the published Tool schema too).
    expect((await connected.client.listTools()).tools.map((t) => t.name)).toContain('echo');
    await wire.settled();
    expect(wire.seen.some((x) => x.method === 'tools/list' && x.modern)).toBe(true);
    const quick = await alice.callTool<CallToolResultV2>('echo', { message: 'quick' });
    expect(quick.kind).toBe('immediate');
    expect(resultFromTaskOutcome((await quick.settle()).outcome).structuredContent).toEqual({ message: 'quick', ranAs: 'alice' });
    // Invalid arguments: a tool-level error, not a protocol error (the spec's `completed` + isError).
    const bad = await alice.callTool<CallToolResultV2>('echo', { message: 42 });
    const { outcome } = await bad.settle();
    expect(outcome.status).toBe('completed');
    expect(resultFromTaskOutcome(outcome).isError).toBe(true);
  });

  it('2026-07-28: cancelling the task stops the tool in the worker; the task is cancelled and stays so', async () => {
    freshWire();
    const alice = await session('alice');
    const execution = await alice.callTool('echo', { message: 'official-cancel', delayMs: 20_000, probeUrl });
    expect(execution.kind).toBe('task');
    if (execution.kind !== 'task') return;
    await saw('start', 'official-cancel');
    await execution.cancel();
    await saw('aborted', 'official-cancel');
    const { outcome } = await execution.settle();
    expect(outcome.status).toBe('cancelled');
    expect(() => resultFromTaskOutcome(outcome)).toThrow(TaskCancelledError);
    const view = await waitFor('cancelled', async () => {
      const v = await alice.task(execution.handle.taskId).snapshot();
      return v.status === 'cancelled' ? v : undefined;
    });
    expect(view.statusMessage).toBeTruthy();
    expect(events.some((e) => e.event === 'end' && e.message === 'official-cancel')).toBe(false);
  });

  it('2026-07-28: bob’s client cannot read, update or cancel alice’s task — the same error as an unknown id — and alice’s task completes', async () => {
    freshWire();
    const alice = await session('alice');
    const bob = await session('bob');
    const execution = await alice.callTool<CallToolResultV2>('echo', { message: 'not-bobs', delayMs: 1200 });
    expect(execution.kind).toBe('task');
    if (execution.kind !== 'task') return;
    const id = execution.handle.taskId;
    const unknown = taskId('call_AAAAAAAAAAAAAAAAAAAAAA');
    const ops = [
      (t: TaskId) => bob.task(t).snapshot(),
      (t: TaskId) => bob.task(t).cancel(),
      (t: TaskId) => bob.task(t).updateJson({ k: { action: 'cancel' } }),
      (t: TaskId) => bob.task(t).result(),
    ];
    for (const op of ops) {
      const theirs = await rpcError(op(id));
      expect(theirs).toEqual(await rpcError(op(unknown)));
      expect(theirs.code).toBe(-32602);
    }
    const { outcome } = await execution.settle();
    expect(resultFromTaskOutcome(outcome).structuredContent).toEqual({ message: 'not-bobs', ranAs: 'alice' });
  });

  it('2026-07-28: a task handed off by one session is resumed by another and read to completion', async () => {
    freshWire();
    const first = await session('alice', 'modern', 'mcprt-test');
    const execution = await first.callTool<CallToolResultV2>('echo', { message: 'resumed', delayMs: 1000 });
    expect(execution.kind).toBe('task');
    if (execution.kind !== 'task') return;
    let saved: Parameters<typeof first.resumeTask>[0] | undefined;
    await execution.handoff((ref) => {
      saved = ref;
    });
    const second = await session('alice', 'modern', 'mcprt-test');
    const resumed = await second.resumeTask<CallToolResultV2>(saved!);
    const { outcome } = await resumed.settle();
    expect(resultFromTaskOutcome(outcome).structuredContent).toEqual({ message: 'resumed', ranAs: 'alice' });
  });

  it('2025-11-25: the same client calls plainly (no tasks offered in that revision) and gets results; requiring a task is refused locally', async () => {
    freshWire();
    const alice = await session('alice', 'legacy');
    expect(alice.capabilities.execution).toBe(false);
    const execution = await alice.callTool<CallToolResultV2>('echo', { message: 'legacy', delayMs: 600 });
    expect(execution.kind).toBe('immediate');
    expect(resultFromTaskOutcome((await execution.settle()).outcome).structuredContent).toEqual({ message: 'legacy', ranAs: 'alice' });
    await expect(alice.callTool('echo', { message: 'must-task' }, { task: { preference: 'require' } })).rejects.toThrow(/required but is unavailable/);
    await wire.settled();
    expect(wire.seen.some((x) => x.method === 'tools/call' && !x.modern)).toBe(true);
  });
});
