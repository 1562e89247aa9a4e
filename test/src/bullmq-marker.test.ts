import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { redisKeys } from '@mcprt/redis';
import { Queue, Worker, type Job } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import { openRedis } from './harness/redis.js';
import { namespace } from './harness/test-config.js';
import { sleep, waitFor } from './harness/wait-for.js';

/**
 * BullMQ is patched (patches/bullmq@6.7.0.patch): taking a job re-adds the queue's "jobs available"
 * marker only when another job waits (new or prioritized). Unpatched, the marker came back after every
 * take, so the worker that had just taken the last job woke from its blocking read at once and ran an
 * empty fetch: one extra wake-up and script run per call. The take also says when it left nothing
 * waiting, and the worker then blocks on the marker at once instead of running one more fetch that
 * would find nothing. These tests hold the patch to what BullMQ relies the marker for: a burst of jobs
 * (one marker however many adds) still wakes every worker, and a job added after the last take is
 * taken at once.
 */
const redis = openRedis();
let closing: (() => Promise<void>)[] = [];

afterEach(async () => {
  for (const c of closing) await c();
  closing = [];
});

function queueOf(label: string) {
  const prefix = redisKeys(namespace(label).queuePrefix).queuePrefix;
  const queue = new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix });
  closing.push(() => queue.close());
  const marker = `${prefix}:${TOOL_CALLS_QUEUE}:marker`;
  return { queue, prefix, markers: () => redis.zcard(marker), clearMarker: () => redis.del(marker) };
}

describe('the patched marker: re-added on a take only while jobs wait', () => {
  it('taking the last waiting job leaves no marker; taking one of two (new or prioritized) leaves one', async () => {
    const q = queueOf('marker-take');
    const worker = new Worker(TOOL_CALLS_QUEUE, null, { connection: redis, prefix: q.prefix, autorun: false });
    closing.push(() => worker.close(true));

    await q.queue.add('x', {}, { jobId: 'only' });
    await q.clearMarker(); // the add's own marker, as if a worker's blocking read had taken it
    expect((await worker.getNextJob('t1'))?.id).toBe('only');
    expect(await q.markers()).toBe(0);

    // Having taken the last job, the worker's next fetch blocks on the marker: the adds' marker wakes it.
    await q.queue.addBulk([1, 2].map((i) => ({ name: 'x', data: {}, opts: { jobId: `new${i}` } })));
    expect((await worker.getNextJob('t2'))?.id).toBe('new1');
    expect(await q.markers()).toBe(1); // new2 waits: another worker must wake

    await worker.getNextJob('t3'); // new2
    await q.queue.addBulk([1, 2].map((i) => ({ name: 'x', data: {}, opts: { jobId: `prio${i}`, priority: 1 } })));
    expect((await worker.getNextJob('t4'))?.id).toMatch(/^prio/);
    expect(await q.markers()).toBe(1); // the other prioritized job waits
  });

  it('a burst of jobs added at once still starts on every idle worker (the marker is passed on)', async () => {
    const q = queueOf('marker-burst');
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    const started: string[] = [];
    const workers = [1, 2, 3].map(
      () =>
        new Worker(
          TOOL_CALLS_QUEUE,
          async (job: Job) => {
            started.push(job.id!);
            await held;
          },
          { connection: redis, prefix: q.prefix, concurrency: 1 },
        ),
    );
    closing.push(async () => {
      release();
      await Promise.all(workers.map((w) => w.close()));
    });
    await Promise.all(workers.map((w) => w.waitUntilReady()));
    await new Promise((r) => setTimeout(r, 200)); // every worker blocked on the marker
    await q.queue.addBulk(['a', 'b', 'c'].map((id) => ({ name: 'x', data: {}, opts: { jobId: id } })));
    await waitFor('three jobs running on three workers', async () => (started.length === 3 ? true : undefined), 5_000);
    expect(started.sort()).toEqual(['a', 'b', 'c']);
    release();
  });

  it('a worker takes one job per fetch when jobs come one at a time, and a job added after the last take starts at once', async () => {
    const q = queueOf('marker-fetches');
    const done: string[] = [];
    const worker = new Worker(TOOL_CALLS_QUEUE, async (job: Job) => void done.push(job.id!), { connection: redis, prefix: q.prefix, concurrency: 4 });
    closing.push(() => worker.close());
    // BullMQ's own fetch (moveToActive): counted to show no fetch runs only to find the queue empty.
    const backend = (worker as unknown as { backend: { moveToActive: (...a: unknown[]) => Promise<unknown> } }).backend;
    await worker.waitUntilReady();
    await sleep(200); // blocked on the marker
    const moveToActive = backend.moveToActive.bind(backend);
    let fetches = 0;
    backend.moveToActive = (...a: unknown[]) => {
      fetches++;
      return moveToActive(...a);
    };
    for (let i = 0; i < 6; i++) {
      const t0 = performance.now();
      await q.queue.add('x', {}, { jobId: `one${i}` });
      await waitFor(`job ${i} done`, async () => (done.length === i + 1 ? true : undefined), 5_000, 2);
      expect(performance.now() - t0).toBeLessThan(1_000); // taken on the marker, not after a block timeout
      await sleep(50);
    }
    // One fetch per job (unpatched: three, two of them empty).
    expect(fetches).toBe(6);
  });
});
