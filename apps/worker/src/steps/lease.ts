import type { Logger } from '@mcprt/observability';
import type { JobPayload } from '@mcprt/calls';
import type { WorkerResources } from '../resources.js';
import { pausedUpstreamOf, userConcurrency, type HeldLease } from '../user-leases.js';
import type { CallRun } from './run.js';

/** The user's concurrency slot for one run, asked for before the row is read. */
export interface LeaseRequest {
  /** Give the slot back unused (the run ended before it needed it). Idempotent; never throws. */
  drop(): void;
  /** Wait for the answer: the slot (released once the final write is done), or how long to wait for one. */
  take(): Promise<{ waitMs: number } | { release(): void }>;
}

/**
 * The user's slot (user-leases.ts) is asked for while the row loads (one round trip hidden behind the
 * other), under the job's claimed tenant, user and tool: if the row disagrees the job is refused and the
 * lease given back at once (`drop`), so a forged job gains nothing.
 */
export function requestLease(run: CallRun): LeaseRequest {
  const { r, job, attempt } = run;
  const jobId = attempt.jobId ?? job.callId;
  const leaseP = acquireLease(r, job, jobId, attempt.started);
  leaseP.catch(() => undefined); // awaited (and its error thrown) by take(); never an unhandled rejection
  let settled = false;
  return {
    drop() {
      if (settled) return;
      settled = true;
      leaseP.then(
        (g) => (g && !('waitMs' in g) ? releaseAndWake(r, g, run.log) : undefined),
        () => undefined,
      );
    },
    async take() {
      settled = true;
      const got = await leaseP;
      if (got && 'waitMs' in got) return { waitMs: got.waitMs };
      // Not awaited: the result is written; a late release only keeps the slot a moment longer.
      return { release: () => (got ? void releaseAndWake(r, got, run.log) : undefined) };
    },
  };
}

/** The lease for this run (member = job id + fencing number), or undefined when the tenant is gone (refused later). */
async function acquireLease(r: WorkerResources, job: JobPayload, jobId: string, fence: number): Promise<HeldLease | { waitMs: number } | undefined> {
  const owner = await r.owners.tenant(job.tenantId);
  if (!owner) return undefined;
  return r.leases.acquire(
    job.tenantId,
    job.userId,
    pausedUpstreamOf(job.tool, r.registry.get(job.tool)),
    jobId,
    `${jobId}:${fence}`,
    userConcurrency(owner, job.userId),
  );
}

/** Free the slot and promote the first job that waited for one. Never throws (a lease lapses by itself). */
function releaseAndWake(r: WorkerResources, lease: HeldLease, log: () => Logger): Promise<void> {
  return lease.release().then(
    (waiter) => (waiter ? r.wakeJob(waiter) : undefined),
    (e: unknown) => log().warn({ err: e }, 'could not release the concurrency lease (it lapses by itself)'),
  );
}
