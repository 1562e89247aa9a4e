import { AppError } from '@mcprt/errors';
import { Queue } from 'bullmq';
import type { RedisClient } from '@mcprt/redis';
import { jobPayloadV1, type JobPayload } from './job-payload.js';
import { jobName, TOOL_CALLS_QUEUE } from './names.js';

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
    /**
     * Add the job, id = call id (so a second add of the same call is a no-op). `announced`: added
     * while its row is still being recorded (names.ts, `jobName`).
     */
    async enqueue(payload: JobPayload, announced = false): Promise<void> {
      const data = jobPayloadV1.parse(payload);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new AppError('unavailable', 'queue_unavailable', 'queue did not answer in time', { retryable: true })), opts.timeoutMs);
      });
      try {
        await Promise.race([queue.add(jobName(data.tool, announced), data, { jobId: data.callId }), timeout]);
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

/** The BullMQ states counted for the metrics (`mcprt_queue_jobs{state}`). */
const COUNTED_STATES = ['wait', 'prioritized', 'active', 'delayed', 'waiting-children', 'failed'] as const;

/**
 * The queue as the metrics see it: jobs per state and the age of the oldest job in the wait list.
 * BullMQ pushes new jobs on the left of the wait list and workers take from the right, so the
 * oldest waiting job is the rightmost; its age is since it was added (a retry moved back to the wait
 * list keeps its first timestamp, so the age includes earlier attempts and delays).
 */
export async function sampleQueue(queue: Queue, redis: RedisClient): Promise<{ counts: Record<string, number>; oldestWaitingSeconds: number }> {
  const counts = await queue.getJobCounts(...COUNTED_STATES);
  const oldestId = await redis.lindex(queue.keys.wait!, -1);
  const added = oldestId ? Number(await redis.hget(queue.toKey(oldestId), 'timestamp')) : NaN;
  return { counts, oldestWaitingSeconds: Number.isFinite(added) ? Math.max(0, (Date.now() - added) / 1000) : 0 };
}
