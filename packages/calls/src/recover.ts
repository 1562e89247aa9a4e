import type { Logger } from '@mcprt/observability';
import type { CallStatements } from './call-statements.js';
import { findStaleQueuedCalls, findStaleRunningCalls } from './call-recovery.js';
import { enqueueCall, type EnqueueDeps } from './enqueue.js';
import { jobEndError } from './job-end.js';
import type { Producer } from './producer.js';
import { forTenant, type CallsDb } from './tenant-scope.js';

export interface RecoverDeps extends EnqueueDeps {
  db: Pick<CallsDb, 'db'> & { calls: Pick<CallStatements, 'failIfNotFinal' | 'requeue'> };
  producer: Pick<Producer, 'enqueue'> & { queue: Pick<Producer['queue'], 'getJobState' | 'getJob'> };
  config: { RECONCILE_AFTER_MS: number; RECONCILE_INTERVAL_MS: number; JOB_LOCK_MS: number };
  log: Pick<Logger, 'info' | 'warn' | 'debug'>;
  metrics: { reconciled: { inc(n: number): void } };
}

/**
 * Recover: enqueue calls that were recorded but never reached Redis. A call merely waiting in a long
 * queue is left alone (its job exists); one whose job ended without a final row write is failed
 * with `job_lost` so it cannot sit in the scan forever. The worker's fenced claim makes any duplicate
 * run harmless, and adding a job whose id exists is a no-op in BullMQ.
 */
export async function reconcileOnce(r: RecoverDeps, limit = 100): Promise<number> {
  const stale = await findStaleQueuedCalls(r.db.db, r.config.RECONCILE_AFTER_MS, limit);
  let n = 0;
  for (const { id, tenantId } of stale) {
    if (await jobStillOwns(r, tenantId, id)) continue;
    if (await enqueueIfQueued(r, tenantId, id)) n++;
  }
  n += await sweepRunning(r, limit);
  if (n > 0) {
    r.metrics.reconciled.inc(n);
    r.log.info({ count: n }, 'reconciler enqueued recorded calls');
  }
  return n;
}

/**
 * The lease sweep: a `running` call is owned by its job. While the job is active BullMQ's stall check
 * hands it to another worker if its lock lapses, and a delayed job (a retry) will run; but a job that
 * is gone (Redis restarted empty, evicted) or ended without a final write leaves the row `running` for
 * good. Gone: the row goes back to `queued` (fencing token 0, compare-and-set) and the job is added
 * again; ended: the call is failed with `job_lost` (audited).
 */
async function sweepRunning(r: RecoverDeps, limit: number): Promise<number> {
  // A running call is leased to its job for JOB_LOCK_MS; look only once that lease would have lapsed
  // twice (a job merely moving between BullMQ's lists is never mistaken for a lost one).
  const stale = await findStaleRunningCalls(r.db.db, Math.max(r.config.RECONCILE_AFTER_MS, 2 * r.config.JOB_LOCK_MS), limit);
  let n = 0;
  for (const { id, tenantId, attempt } of stale) {
    if (await jobStillOwns(r, tenantId, id)) continue;
    if (!(await r.db.calls.requeue(tenantId, id, attempt))) continue;
    if (!(await enqueueIfQueued(r, tenantId, id))) continue;
    r.log.warn({ callId: id, attempt }, 'reconciler re-enqueued a running call whose job was gone');
    n++;
  }
  return n;
}

/**
 * Whether the call's job still decides its fate (waiting, delayed, active: it will run). A job that
 * ended without a final write fails the call here: `job_poisoned` when BullMQ failed the job for
 * stalling too often (read from the job only on this rare path), else `job_lost` (retryable). False
 * only when the job is gone.
 */
async function jobStillOwns(r: RecoverDeps, tenantId: string, id: string): Promise<boolean> {
  const state = await r.producer.queue.getJobState(id);
  if (state === 'completed' || state === 'failed') {
    const failedReason = state === 'failed' ? (await r.producer.queue.getJob(id))?.failedReason : undefined;
    await r.db.calls.failIfNotFinal(tenantId, id, jobEndError(failedReason));
    return true;
  }
  return state !== 'unknown';
}

/** Enqueue the call if its row is still `queued` (read tenant-scoped, so the job is built from the row). */
async function enqueueIfQueued(r: RecoverDeps, tenantId: string, id: string): Promise<boolean> {
  const call = await forTenant(r.db.db, tenantId).toolCalls.byId(id);
  if (!call || call.status !== 'queued') return false;
  await enqueueCall(r, call);
  return true;
}

/** Run `reconcileOnce` on an interval; errors (Redis still down) are logged and retried next tick. */
export function startReconciler(r: RecoverDeps): { stop(): void } {
  let running = false;
  const timer = setInterval(() => {
    if (running) return;
    running = true;
    reconcileOnce(r)
      .catch((err) => r.log.debug({ err }, 'reconcile pass failed'))
      .finally(() => (running = false));
  }, r.config.RECONCILE_INTERVAL_MS);
  timer.unref();
  return { stop: () => clearInterval(timer) };
}
