import { parseJobPayload, TOOL_CALLS_QUEUE, jobPayloadV1 } from '@mcprt/queue';
import { DelayedError, UnrecoverableError, Worker, type Job } from 'bullmq';
import { JOB_PAYLOAD_INVALID, refuseJob } from './job-binding.js';
import { processCall } from './process-call.js';
import type { WorkerResources } from './resources.js';

/**
 * The BullMQ adapter: parse the payload, run `processCall`, map its outcome to the job's fate
 * (retry = throw, permanent = UnrecoverableError). The completion bell rings from Postgres on commit.
 */
export function startToolWorker(r: WorkerResources): Worker {
  const { config } = r;
  const worker = new Worker(
    TOOL_CALLS_QUEUE,
    async (job: Job, token?: string, signal?: AbortSignal) => {
      let payload;
      try {
        payload = parseJobPayload(job.data);
      } catch (e) {
        // Wrong types, unknown fields, another version: never retried (the same bytes fail the same
        // way), and audited on the call it names when that call exists (job-binding.ts).
        r.log.error({ jobId: job.id, err: e }, 'dropping job with invalid payload');
        await refuseInvalidJob(r, job).catch((err) => r.log.error({ jobId: job.id, err }, 'could not audit an invalid job'));
        throw new UnrecoverableError('invalid job payload');
      }
      r.metrics.activeJobs.inc();
      try {
        const outcome = await processCall(r, payload, {
          number: job.attemptsMade + 1,
          max: job.opts.attempts ?? 1,
          started: job.attemptsStarted,
          signal: signal ?? new AbortController().signal,
          jobId: job.id,
        });
        if (outcome.kind === 'wait') {
          // No free slot for this user: back to the delayed set without spending an attempt
          // (BullMQ: moveToDelayed + DelayedError); a release promotes it earlier.
          // Fairness: a deferred job comes back *prioritized* (priority 1). BullMQ serves jobs
          // without a priority (every fresh call) before prioritized ones, so a user whose calls
          // wait for their own slots never stands in front of other users' new calls
          // (docs/architecture.md, "Fairness"). Costs a round trip on this path only.
          if (!job.opts.priority) await job.changePriority({ priority: 1 });
          await job.moveToDelayed(Date.now() + outcome.delayMs + Math.floor(Math.random() * 50), token);
          throw new DelayedError();
        }
        if (outcome.kind === 'retry') throw outcome.error;
        if (outcome.kind === 'failed') throw new UnrecoverableError(outcome.error.code);
        if (outcome.kind === 'refused') throw new UnrecoverableError(outcome.reason);
        return outcome.kind;
      } finally {
        r.metrics.activeJobs.dec();
      }
    },
    {
      connection: r.redis,
      prefix: config.QUEUE_PREFIX,
      concurrency: config.WORKER_CONCURRENCY,
      lockDuration: config.JOB_LOCK_MS,
      stalledInterval: config.JOB_STALLED_INTERVAL_MS,
      maxStalledCount: config.JOB_MAX_STALLED,
    },
  );
  worker.on('error', (err) => r.log.warn({ err }, 'worker error'));
  // A job BullMQ gave up on outside our processor (stalled too often): make the row say so.
  worker.on('failed', (job, err) => {
    if (!job || err instanceof UnrecoverableError || job.attemptsMade < (job.opts.attempts ?? 1)) return;
    const parsed = jobPayloadV1.safeParse(job.data);
    if (!parsed.success) return;
    void r.db.calls
      .failIfNotFinal(parsed.data.tenantId, parsed.data.callId, { code: 'job_lost', message: 'the call could not be completed; please retry', retryable: true })
      .catch((e) => r.log.error({ err: e }, 'could not mark lost job'));
  });
  return worker;
}

/** Just enough of a job to find the call it names (the full payload failed validation). */
const CALL_ID = /^call_[A-Za-z0-9_-]{22}$/;

/**
 * An unreadable job that names an existing call: audited in the tenant that owns the call (never the
 * tenant the job claims), and the call failed if the job holds its job id (see refuseJob).
 */
async function refuseInvalidJob(r: WorkerResources, job: Job): Promise<void> {
  const callId = (job.data as { callId?: unknown } | null)?.callId;
  if (typeof callId !== 'string' || !CALL_ID.test(callId)) return;
  const call = await r.db.calls.locateAnyTenant(callId);
  if (call) await refuseJob(r, call, job.id, JOB_PAYLOAD_INVALID, ['payload']);
}
