/** The baseline: bare BullMQ on the same Redis as the end-to-end path. */
import { randomBytes } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import { Queue, Worker } from 'bullmq';
import { Redis } from 'ioredis';
import { TEST_REDIS_URL } from '../src/harness/test-config.js';
import { BARE_ADD, CONCURRENCY } from './settings.js';

export async function deleteKeys(redis: Redis, pattern: string): Promise<number> {
  let cursor = '0';
  let n = 0;
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', pattern, 'COUNT', 1000);
    cursor = next;
    if (keys.length) n += await redis.del(...keys);
  } while (cursor !== '0');
  return n;
}

/** CPU seconds the Redis server has used (all its clients). */
export async function redisCpu(redis: Redis): Promise<number> {
  const info = await redis.info('cpu');
  const num = (k: string) => Number(new RegExp(`${k}:([\\d.]+)`).exec(info)?.[1] ?? NaN);
  return num('used_cpu_sys') + num('used_cpu_user');
}

/** Baseline: bare BullMQ on the same Redis, no-op processor, same worker concurrency and job options. */
export async function bareBullmq(jobs: number, concurrency: number): Promise<{ jobsPerS: number; ms: number; cpuMsPerJob: number }> {
  const prefix = `{bench-bare-${randomBytes(4).toString('hex')}}`;
  const name = 'bare';
  const qConn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const wConn = new Redis(TEST_REDIS_URL, { maxRetriesPerRequest: null });
  const queue = new Queue(name, {
    connection: qConn,
    prefix,
    // The same options the API's producer uses, so the Lua scripts do the same bookkeeping.
    defaultJobOptions: {
      attempts: 5,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 3600, count: 50_000 },
      removeOnFail: { age: 7 * 24 * 3600 },
    },
  });
  let done = 0;
  let failed = 0;
  let resolveAll!: () => void;
  const allDone = new Promise<void>((r) => (resolveAll = r));
  const worker = new Worker(name, async () => 'ok', { connection: wConn, prefix, concurrency, autorun: false });
  worker.on('completed', () => {
    if (++done + failed === jobs) resolveAll();
  });
  worker.on('failed', () => {
    if (done + ++failed === jobs) resolveAll();
  });
  worker.on('error', () => {});
  queue.on('error', () => {});
  try {
    void worker.run();
    await worker.waitUntilReady();
    const redisCpu0 = await redisCpu(qConn);
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    if (BARE_ADD === 'bulk') {
      const chunk = 250;
      for (let i = 0; i < jobs; i += chunk) {
        const n = Math.min(chunk, jobs - i);
        await queue.addBulk(Array.from({ length: n }, (_, k) => ({ name, data: { i: i + k, v: 1 } })));
      }
    } else {
      let next = 0;
      const adder = async () => {
        for (let i = next++; i < jobs; i = next++) await queue.add(name, { i, v: 1 }, { jobId: `j${i}` });
      };
      await Promise.all(Array.from({ length: CONCURRENCY }, adder));
    }
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      allDone,
      new Promise<never>((_, rej) => (timer = setTimeout(() => rej(new Error(`bare BullMQ: only ${done}/${jobs} done after 60 s`)), 60_000))),
    ]);
    clearTimeout(timer);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(cpu0);
    const cpuS = (cpu.user + cpu.system) / 1e6 + ((await redisCpu(qConn)) - redisCpu0);
    if (failed) throw new Error(`bare BullMQ: ${failed} jobs failed`);
    return { jobsPerS: (jobs / ms) * 1000, ms, cpuMsPerJob: (cpuS * 1000) / jobs };
  } finally {
    await worker.close().catch(() => undefined);
    await queue.close().catch(() => undefined);
    await deleteKeys(qConn, `${prefix}:*`).catch(() => undefined);
    await qConn.quit().catch(() => undefined);
    await wConn.quit().catch(() => undefined);
  }
}
