import { AppError } from '@mcprt/errors';
import { Queue } from 'bullmq';
import type { RedisClient } from '@mcprt/redis';
import { jobPayloadV1, type JobPayload } from './job-payload.js';
import { TOOL_CALLS_QUEUE } from './names.js';

export interface ProducerOptions {
  connection: RedisClient;
  prefix: string;
  attempts: number;
  backoffMs: number;
  /** Give up on Redis after this long; the call row stays `queued` and the reconciler re-enqueues it. */
  timeoutMs: number;
}

export function createProducer(opts: ProducerOptions) {
  const queue = new Queue(TOOL_CALLS_QUEUE, {
    connection: opts.connection,
    prefix: opts.prefix,
    defaultJobOptions: {
      attempts: opts.attempts,
      // Exponential with jitter (up to half the delay), so retries of many calls do not move in step.
      backoff: { type: 'exponential', delay: opts.backoffMs, jitter: 0.5 },
      // Keep finished jobs for a while so a late duplicate add with the same id is a no-op.
      removeOnComplete: { age: 3600, count: 50_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  // A Queue re-emits connection errors; the caller sees failures through enqueue(), not crashes.
  queue.on('error', () => {});

  return {
    queue,
    /** Add the job, id = call id (so a second add of the same call is a no-op). */
    async enqueue(payload: JobPayload): Promise<void> {
      const data = jobPayloadV1.parse(payload);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new AppError('unavailable', 'queue_unavailable', 'queue did not answer in time', { retryable: true })), opts.timeoutMs);
      });
      try {
        await Promise.race([queue.add(data.tool, data, { jobId: data.callId }), timeout]);
      } catch (cause) {
        if (cause instanceof AppError) throw cause;
        throw new AppError('unavailable', 'queue_unavailable', 'queue refused the job', { cause, retryable: true });
      } finally {
        clearTimeout(timer);
      }
    },
    close: () => queue.close(),
  };
}

export type Producer = ReturnType<typeof createProducer>;
