import { findStaleQueuedCalls, findStaleRunningCalls, forTenant, requeueLostRunningCall } from '@mcprt/calls';
import { jobEndError } from '@mcprt/calls';
import type { ApiResources } from '../resources.js';
import { buildJobPayload } from './build-job.js';

/**
 * Enqueue calls that were recorded but never reached Redis (DESIGN §3.4). A call merely waiting in a
 * long queue is left alone (its job exists); one whose job ended without a final row write is failed
 * with `job_lost` so it cannot sit in the scan forever. The worker's fenced claim makes any duplicate
 * run harmless, and adding a job whose id exists is a no-op in BullMQ.
 */
export async function reconcileOnce(r: ApiResources, limit = 100): Promise<number> {
  const stale = await findStaleQueuedCalls(r.db.db, r.config.RECONCILE_AFTER_MS, limit);
  let n = 0;
  for (const { id, tenantId } of stale) {
    const scope = forTenant(r.db.db, tenantId);
    const call = await scope.toolCalls.byId(id);
    if (!call || call.status !== 'queued') continue;
    const state = await r.producer.queue.getJobState(id);
    if (state === 'completed' || state === 'failed') {
      await failEndedCall(r, tenantId, id, state);
      continue;
    }
    if (state !== 'unknown') continue; // waiting, delayed, active: it will run
    const tool = r.registry.get(call.tool);
    const credential = tool?.upstream ? await scope.credentials.get(call.userId, tool.upstream.provider) : undefined;
    await r.producer.enqueue(buildJobPayload(call, credential));
    n++;
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
async function sweepRunning(r: ApiResources, limit: number): Promise<number> {
  // A running call is leased to its job for JOB_LOCK_MS; look only once that lease would have lapsed
  // twice (a job merely moving between BullMQ's lists is never mistaken for a lost one).
  const stale = await findStaleRunningCalls(r.db.db, Math.max(r.config.RECONCILE_AFTER_MS, 2 * r.config.JOB_LOCK_MS), limit);
  let n = 0;
  for (const { id, tenantId, attempt } of stale) {
    const state = await r.producer.queue.getJobState(id);
    if (state === 'completed' || state === 'failed') {
      await failEndedCall(r, tenantId, id, state);
      continue;
    }
    if (state !== 'unknown') continue;
    if (!(await requeueLostRunningCall(r.db.db, tenantId, id, attempt))) continue;
    const scope = forTenant(r.db.db, tenantId);
    const call = await scope.toolCalls.byId(id);
    if (!call || call.status !== 'queued') continue;
    const tool = r.registry.get(call.tool);
    const credential = tool?.upstream ? await scope.credentials.get(call.userId, tool.upstream.provider) : undefined;
    await r.producer.enqueue(buildJobPayload(call, credential));
    r.log.warn({ callId: id, attempt }, 'reconciler re-enqueued a running call whose job was gone');
    n++;
  }
  return n;
}

/**
 * A call whose job ended without a final write: failed `job_poisoned` when BullMQ failed the job for
 * stalling too often (read from the job only on this rare path), else `job_lost` (retryable).
 */
async function failEndedCall(r: ApiResources, tenantId: string, id: string, state: 'completed' | 'failed'): Promise<void> {
  const failedReason = state === 'failed' ? (await r.producer.queue.getJob(id))?.failedReason : undefined;
  await r.db.calls.failIfNotFinal(tenantId, id, jobEndError(failedReason));
}
