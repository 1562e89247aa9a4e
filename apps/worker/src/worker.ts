import { parseJobPayload, TOOL_CALLS_QUEUE, jobPayloadV1 } from '@mcprt/queue';
import { UnrecoverableError, Worker, type Job } from 'bullmq';
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
    async (job: Job, _token?: string, signal?: AbortSignal) => {
      let payload;
      try {
        payload = parseJobPayload(job.data);
      } catch (e) {
        r.log.error({ jobId: job.id, err: e }, 'dropping job with invalid payload');
        throw new UnrecoverableError('invalid job payload');
      }
      r.metrics.activeJobs.inc();
      try {
        const outcome = await processCall(r, payload, {
          number: job.attemptsMade + 1,
          max: job.opts.attempts ?? 1,
          started: job.attemptsStarted,
          signal: signal ?? new AbortController().signal,
        });
        if (outcome.kind === 'retry') throw outcome.error;
        if (outcome.kind === 'failed') throw new UnrecoverableError(outcome.error.code);
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
