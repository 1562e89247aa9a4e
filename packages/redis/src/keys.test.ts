import { describe, expect, it } from 'vitest';
import { hashTagOf, redisKeys } from './keys.js';

/** Every key and channel the module builds, each builder called with placeholder arguments. */
function everyKey(prefix: string): [string, string][] {
  return Object.entries(redisKeys(prefix)).map(([name, k]) => {
    if (typeof k === 'string') return [name, k];
    const build = k as (...a: unknown[]) => string;
    return [name, build(...Array.from({ length: build.length }, (_, i) => `arg${i}`))];
  });
}

describe('Redis keys', () => {
  it('every key carries the queue prefix, so it hashes to the slot of the queue (Redis Cluster)', () => {
    const queueKey = `{mcprt}:tool-calls:wait`; // what BullMQ builds from the same prefix
    const keys = everyKey('{mcprt}');
    expect(keys.length).toBeGreaterThanOrEqual(10);
    for (const [name, key] of keys) {
      expect(key.startsWith('{mcprt}'), name).toBe(true);
      expect(hashTagOf(key), name).toBe(hashTagOf(queueKey));
    }
  });

  it('no two builders make the same key', () => {
    const keys = everyKey('{p}')
      .filter(([name]) => name !== 'queuePrefix')
      .map(([, k]) => k);
    expect(new Set(keys).size).toBe(keys.length);
    expect(keys.some((k) => k.startsWith('{p}:tool-calls'))).toBe(false);
  });

  it('reads the hash tag as Redis Cluster does', () => {
    expect(hashTagOf('{mcprt}:lease:t:u')).toBe('mcprt');
    expect(hashTagOf('a{b}c{d}')).toBe('b');
    expect(hashTagOf('{}:x')).toBe('{}:x');
    expect(hashTagOf('plain')).toBe('plain');
  });
});
