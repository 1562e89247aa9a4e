import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { coalesceWrites } from './coalesce-writes.js';

const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';
const prefix = `{test-coalesce-${process.pid}-${Date.now()}}`;
const immediate = () => new Promise((r) => setImmediate(r));

describe('coalesceWrites', () => {
  const redis = coalesceWrites(new Redis(REDIS_URL, { maxRetriesPerRequest: null }));
  afterAll(async () => {
    await redis.del(`${prefix}:n`, `${prefix}:list`);
    redis.disconnect();
  });

  it('sends the commands of one loop turn in one write, in order, each with its own reply', async () => {
    await redis.ping(); // connected
    const writes: number[] = [];
    // Count what reaches the socket: corked writes leave in one _writev.
    const s = redis.stream as unknown as { _writev: (chunks: unknown[], cb: () => void) => void; _write: (c: unknown, e: unknown, cb: () => void) => void };
    const writev = s._writev.bind(s);
    const write1 = s._write.bind(s);
    s._writev = (chunks, cb) => (writes.push(chunks.length), writev(chunks, cb));
    s._write = (c, e, cb) => (writes.push(1), write1(c, e, cb));
    try {
      const replies = Promise.all([
        redis.del(`${prefix}:list`),
        ...Array.from({ length: 10 }, (_, i) => redis.rpush(`${prefix}:list`, String(i))),
        redis.incr(`${prefix}:n`),
        redis.lrange(`${prefix}:list`, 0, -1),
      ]);
      expect(writes).toEqual([]); // nothing left yet: corked until the end of the turn
      const got = await replies;
      expect(writes).toEqual([13]);
      expect(got.slice(1, 11)).toEqual([1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
      expect(got[12]).toEqual(['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
    } finally {
      Object.assign(s, { _writev: writev, _write: write1 });
    }
    // Uncorked after the turn: nothing is held back.
    await immediate();
    expect((redis.stream as unknown as { writableCorked: number }).writableCorked).toBe(0);
  });

  it('keeps coalescing on the new socket after a reconnect', async () => {
    const before = redis.stream;
    redis.disconnect(true);
    await new Promise((r) => redis.once('ready', r));
    expect(redis.stream).not.toBe(before);
    const p = redis.incr(`${prefix}:n`);
    expect((redis.stream as unknown as { writableCorked: number }).writableCorked).toBe(1);
    expect(await p).toBeGreaterThan(0);
    await immediate();
    expect((redis.stream as unknown as { writableCorked: number }).writableCorked).toBe(0);
  });
});
