import { findStaleQueuedCalls, forTenant } from '@mcprt/db';
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
      await r.db.calls.failIfNotFinal(tenantId, id, { code: 'job_lost', message: 'the call could not be completed; please retry', retryable: true });
      continue;
    }
    if (state !== 'unknown') continue; // waiting, delayed, active: it will run
    const tool = r.registry.get(call.tool);
    const credential = tool?.upstream ? await scope.credentials.get(call.userId, tool.upstream.provider) : undefined;
    await r.producer.enqueue(buildJobPayload(call, credential));
    n++;
  }
  if (n > 0) {
    r.metrics.reconciled.inc(n);
    r.log.info({ count: n }, 'reconciler enqueued recorded calls');
  }
  return n;
}

/** Run `reconcileOnce` on an interval; errors (Redis still down) are logged and retried next tick. */
export function startReconciler(r: ApiResources): { stop(): void } {
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
