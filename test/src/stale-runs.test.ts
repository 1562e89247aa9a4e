import { STALE_RESULT_DISCARDED } from '@mcprt/calls';
import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { Queue } from 'bullmq';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { startStack, type Stack } from './harness/stack.js';
import { waitFor, sleep } from './harness/wait-for.js';
import { openRedis } from './harness/redis.js';

/**
 * Stale runs with two or three real worker processes: a worker stopped past its
 * lock whose late result the fence rejects (and the audit records), and a job that stalls its workers
 * more than JOB_MAX_STALLED times (failed as poison, its call failed and audited once).
 */

const callBody = (id: number, message: string, delayMs: number) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name: 'echo', arguments: { message, delayMs } },
});
const mcpHeaders = (token: string) => ({ authorization: `Bearer ${token}`, 'mcp-protocol-version': '2025-06-18' });

interface Row {
  id: string;
  status: string;
  attempt: number;
  result: { message?: string } | null;
  error: { code?: string } | null;
}

describe('stale runs across worker processes', () => {
  let s: Stack;
  const workers: AppProcess[] = [];
  const spawnWorker = async () => {
    const w = spawnApp('worker', s.env);
    workers.push(w);
    await w.ready;
    return w;
  };
  const rowOf = async (message: string) => {
    const [row] = await s.db
      .sql`select id, status, attempt, result, error from tool_calls where tenant_id = ${s.tenant.id} and arguments->>'message' = ${message}`;
    return row as Row | undefined;
  };
  const rowWhere = (message: string, ok: (r: Row) => boolean, ms?: number) =>
    waitFor(
      `${message}: expected state`,
      async () => {
        const r = await rowOf(message);
        return r && ok(r) ? r : undefined;
      },
      ms,
    );
  const auditOf = async (callId: string) =>
    (await s.db.sql`select action, decision, reason from audit_events where tenant_id = ${s.tenant.id} and call_id = ${callId} order by id`) as unknown as {
      action: string;
      decision: string;
      reason: string | null;
    }[];

  beforeAll(async () => {
    // Short locks so a stopped or killed worker loses its job in ~1.5 s; one stall allowed, so a job
    // that stalls twice is poison.
    s = await startStack({
      label: 'stale',
      worker: 'none',
      env: { JOB_LOCK_MS: '1000', JOB_STALLED_INTERVAL_MS: '500', JOB_MAX_STALLED: '1', CALL_WAIT_MS: '30000' },
    });
  });
  afterEach(async () => {
    for (const w of workers.splice(0)) {
      w.child.kill('SIGCONT');
      w.child.kill('SIGKILL');
      await w.exited;
    }
  });
  afterAll(() => s?.close());

  it('SIGSTOP past the lock, SIGCONT after another worker retried: one result, the stale write rejected, both attempts audited', async () => {
    const a = await spawnWorker();
    const token = await s.token('alice');
    const answer = s.post(callBody(1, 'stopped-worker', 2_500), mcpHeaders(token));
    // Worker A runs attempt 1 (marked running after WORKER_RUNNING_MARK_MS) …
    const first = await rowWhere('stopped-worker', (r) => r.status === 'running' && r.attempt === 1);
    a.child.kill('SIGSTOP');
    // … is frozen past its lock; worker B's stall check hands the job to B, whose attempt 2 finishes.
    await spawnWorker();
    const done = await rowWhere('stopped-worker', (r) => r.status === 'succeeded', 30_000);
    expect(done.attempt).toBe(2);
    // A wakes up, its tool run ends, and its final write (attempt 1) meets the fence.
    a.child.kill('SIGCONT');
    const stale = await waitFor('the stale write audited', async () => {
      const rows = await auditOf(first.id);
      return rows.some((r) => r.action === STALE_RESULT_DISCARDED) ? rows : undefined;
    });
    expect(stale.map((r) => r.action)).toEqual(['tool_call.accepted', 'tool_call.succeeded', STALE_RESULT_DISCARDED]);
    expect(stale[2]).toMatchObject({ decision: 'info', reason: 'stale_attempt=1 discarded=succeeded row_attempt=2 row_status=succeeded' });
    // One result: the row is attempt 2's, unchanged by A, and the client got it.
    await sleep(500);
    const after = (await rowOf('stopped-worker'))!;
    expect(after).toMatchObject({ status: 'succeeded', attempt: 2 });
    expect(after.result?.message).toBe('stopped-worker');
    expect((await auditOf(first.id)).length).toBe(3);
    const res = await answer;
    expect(res.status).toBe(200);
    const body = (await res.json()) as { result?: { isError?: boolean; structuredContent?: { message?: string } } };
    expect(body.result?.isError).toBeFalsy();
    expect(body.result?.structuredContent?.message).toBe('stopped-worker');
  });

  it('a job that stalls its workers more than JOB_MAX_STALLED times is failed as poison: call failed job_poisoned, audited once', async () => {
    const token = await s.token('bob');
    const answer = s.post(callBody(2, 'stalls-twice', 60_000), mcpHeaders(token));
    // Each worker that takes the job dies holding it (a job that kills or wedges its worker, whose
    // record is fine: the poison guard has nothing to replace).
    const w1 = await spawnWorker();
    const row = await rowWhere('stalls-twice', (r) => r.status === 'running' && r.attempt === 1);
    w1.child.kill('SIGKILL');
    const w2 = await spawnWorker();
    await rowWhere('stalls-twice', (r) => r.status === 'running' && r.attempt === 2);
    w2.child.kill('SIGKILL');
    // The third worker's stall check finds the second stall (> JOB_MAX_STALLED = 1): BullMQ fails the
    // job when it is next fetched, and the worker fails its call.
    await spawnWorker();
    const failed = await rowWhere('stalls-twice', (r) => r.status === 'failed', 30_000);
    expect(failed.error?.code).toBe('job_poisoned');
    const audit = await auditOf(row.id);
    expect(audit.filter((r) => r.action === 'tool_call.failed')).toEqual([{ action: 'tool_call.failed', decision: 'deny', reason: 'job_poisoned' }]);
    const queue = new Queue(TOOL_CALLS_QUEUE, { connection: openRedis(s.config), prefix: s.config.QUEUE_PREFIX });
    expect(await queue.getJobState(row.id)).toBe('failed');
    await queue.close();
    // The waiting client gets the failure (the bell from the final write), or — when the machine is so
    // slow that its wait (CALL_WAIT_MS) ran out first — its call id, whose poll view shows the failure.
    const res = await answer;
    const body = (await res.json()) as {
      result?: { isError?: boolean; content?: { text?: string }[]; _meta?: Record<string, { id?: string; status?: string; pollUrl?: string }> };
    };
    expect(body.result?.isError).toBe(true);
    const meta = body.result?._meta?.['io.mcprt/call'];
    expect(meta?.id).toBe(row.id);
    if (meta?.status === 'failed') expect(body.result?.content?.[0]?.text).toBe('the call stalled its worker repeatedly and was stopped');
    const view = (await (await fetch(meta!.pollUrl!, { headers: { authorization: `Bearer ${token}` } })).json()) as {
      status?: string;
      error?: { code?: string };
    };
    expect(view).toMatchObject({ status: 'failed', error: { code: 'job_poisoned' } });
  });
});
