import type { JobPayload } from '@mcprt/calls';
import { describe, expect, it } from 'vitest';
import type { WorkerResources } from '../resources.js';
import type { HeldLease } from '../user-leases.js';
import { requestLease } from './lease.js';
import type { CallRun } from './run.js';

const tick = () => new Promise((r) => setTimeout(r, 0));

/** A run whose lease answer is `answer`; counts releases and wake-ups. */
function runWith(answer: () => Promise<HeldLease | { waitMs: number }>) {
  const seen = { released: 0, woken: [] as string[], acquired: [] as unknown[][] };
  const r = {
    owners: { tenant: async () => ({ limits: { perUserConcurrency: 2 } }) },
    registry: { get: () => undefined },
    leases: {
      acquire: (...args: unknown[]) => {
        seen.acquired.push(args);
        return answer();
      },
    },
    wakeJob: async (id: string) => void seen.woken.push(id),
    log: { warn: () => undefined },
  } as unknown as WorkerResources;
  const job = { tenantId: 't', userId: 'u', tool: 'echo', callId: 'call_x' } as JobPayload;
  const run = { r, job, attempt: { number: 1, max: 3, started: 4, signal: new AbortController().signal }, log: () => r.log } as unknown as CallRun;
  const held: HeldLease = {
    release: async () => {
      seen.released++;
      return 'waiter';
    },
  };
  return { run, seen, held };
}

describe('requestLease: the user slot asked for while the row loads', () => {
  it('asks for a member of job id and fencing number, under the provider a 429 pauses', async () => {
    const { run, seen, held } = runWith(async () => held);
    requestLease(run).drop();
    await tick();
    expect(seen.acquired).toEqual([['t', 'u', 'echo', 'call_x', 'call_x:4', 2]]);
  });

  it('drop gives a granted slot back and wakes the next waiter, once', async () => {
    const { run, seen, held } = runWith(async () => held);
    const lease = requestLease(run);
    lease.drop();
    lease.drop();
    await tick();
    expect(seen.released).toBe(1);
    expect(seen.woken).toEqual(['waiter']);
  });

  it('take returns the slot, released only when asked; drop after take does nothing', async () => {
    const { run, seen, held } = runWith(async () => held);
    const lease = requestLease(run);
    const slot = await lease.take();
    lease.drop();
    await tick();
    expect(seen.released).toBe(0);
    if ('waitMs' in slot) throw new Error('expected a slot');
    slot.release();
    await tick();
    expect(seen.released).toBe(1);
  });

  it('take says how long to wait when every slot is taken', async () => {
    const { run } = runWith(async () => ({ waitMs: 120 }));
    await expect(requestLease(run).take()).resolves.toEqual({ waitMs: 120 });
  });

  it('a failed acquire is thrown by take, and never unhandled when dropped', async () => {
    const { run } = runWith(() => Promise.reject(new Error('redis down')));
    await expect(requestLease(run).take()).rejects.toThrow('redis down');
    requestLease(run).drop();
    await tick();
  });
});
