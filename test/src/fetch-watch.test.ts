import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { createLogger, createMetrics } from '@mcprt/observability';
import { redisKeys } from '@mcprt/redis';
import { watchFetchLoop, type RunHooks, type WatchedWorker } from '@mcprt/worker';
import { Queue, Worker, type Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { openRedis } from './harness/redis.js';
import { namespace } from './harness/test-config.js';
import { sleep, waitFor } from './harness/wait-for.js';

/**
 * The worker's fetch-loop watch (apps/worker fetch-watch.ts) on a real Redis with real BullMQ
 * workers. The stuck loop that a Redis Cluster primary's restart can leave (the fault suite's
 * cluster scenarios) cannot be produced on demand; here the first worker never starts its loop
 * (`autorun: false`), which is the same thing to the watch: a worker that is up, idle and takes
 * nothing while jobs wait.
 */
const redis = openRedis();
const log = createLogger({ name: 'test', level: 'silent' });
let open: { watch: WatchedWorker; queue: Queue }[] = [];

afterEach(async () => {
  for (const o of open) {
    await o.watch.close();
    await o.queue.close();
  }
  open = [];
});

function setup(opts: { concurrency: number; stuckFirst: boolean; run?: (job: Job) => Promise<void> }) {
  const ns = namespace('fetchwatch');
  const keys = redisKeys(ns.queuePrefix);
  const metrics = createMetrics('worker');
  const done: string[] = [];
  let made = 0;
  const make = (hooks: RunHooks) => {
    made++;
    return new Worker(
      TOOL_CALLS_QUEUE,
      async (job: Job) => {
        hooks.started();
        try {
          await opts.run?.(job);
          done.push(job.id!);
        } finally {
          hooks.ended();
        }
      },
      { connection: redis, prefix: keys.queuePrefix, concurrency: opts.concurrency, autorun: !(opts.stuckFirst && made === 1) },
    );
  };
  const watch = watchFetchLoop({ redis, keys, log, metrics, config: { WORKER_CONCURRENCY: opts.concurrency } as never }, make, { checkMs: 50, wedgeMs: 300 });
  const queue = new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix: keys.queuePrefix });
  open.push({ watch, queue });
  const replacements = async () => (await metrics.registry.getSingleMetric('mcprt_worker_fetch_loop_replacements_total')?.get())?.values[0]?.value ?? 0;
  return { watch, queue, done, made: () => made, replacements };
}

describe('the fetch-loop watch replaces a worker whose loop takes no job', () => {
  it('a worker that is up but takes nothing while jobs wait is replaced, and the new worker runs the jobs', async () => {
    const t = setup({ concurrency: 2, stuckFirst: true });
    await t.watch.waitUntilReady();
    await t.queue.addBulk(['a', 'b', 'c'].map((id) => ({ name: 'x', data: {}, opts: { jobId: id } })));
    await waitFor('the three jobs done', async () => (t.done.length === 3 ? true : undefined), 5_000);
    expect(t.done.sort()).toEqual(['a', 'b', 'c']);
    expect(t.made()).toBe(2);
    expect(t.watch.replaced).toBe(1);
    expect(await t.replacements()).toBe(1);
  });

  it('a healthy worker is never replaced: idle with nothing waiting, or taking jobs as they come', async () => {
    const t = setup({ concurrency: 2, stuckFirst: false });
    await t.watch.waitUntilReady();
    await sleep(800); // idle, longer than the wedge time
    for (let i = 0; i < 5; i++) {
      await t.queue.add('x', {}, { jobId: `j${i}` });
      await sleep(200);
    }
    await waitFor('the five jobs done', async () => (t.done.length === 5 ? true : undefined), 5_000);
    expect(t.made()).toBe(1);
    expect(t.watch.replaced).toBe(0);
  });

  it('a worker whose slots are all busy while jobs wait is not replaced', async () => {
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const t = setup({ concurrency: 1, stuckFirst: false, run: (job) => (job.id === 'long' ? held : Promise.resolve()) });
    await t.watch.waitUntilReady();
    await t.queue.add('x', {}, { jobId: 'long' });
    await waitFor('the long job active', async () => ((await t.queue.getActiveCount()) === 1 ? true : undefined), 5_000);
    await t.queue.addBulk([1, 2].map((i) => ({ name: 'x', data: {}, opts: { jobId: `after${i}` } })));
    await sleep(1_000); // jobs wait > 3 × the wedge time, the one slot busy
    expect(t.watch.replaced).toBe(0);
    release();
    await waitFor('the three jobs done', async () => (t.done.length === 3 ? true : undefined), 5_000);
    expect(t.made()).toBe(1);
  });
});
