import { Writable } from 'node:stream';
import { createLogger, type Logger } from '@mcprt/observability';
import type { RedisTarget } from '@mcprt/redis';
import { expect } from 'vitest';
import { openRedis, scanKeys } from './redis.js';

/** A logger at `level` (default trace: every line the code can write) whose lines the test reads back. */
export function captureLogs(o: { name?: string; level?: string } = {}): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _e, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { log: createLogger({ name: o.name ?? 'test', level: o.level ?? 'trace', destination }), lines };
}

/** Every value under `prefix` in Redis (hashes, strings, lists, sorted sets, streams), as text. */
export async function redisValuesUnder(target: RedisTarget, prefix: string): Promise<string[]> {
  const redis = openRedis(target);
  const values: string[] = [];
  try {
    for (const key of await scanKeys(redis, `${prefix}:*`)) {
      const type = await redis.type(key);
      if (type === 'hash') values.push(JSON.stringify(await redis.hgetall(key)));
      else if (type === 'string') values.push((await redis.get(key)) ?? '');
      else if (type === 'list') values.push(...(await redis.lrange(key, 0, -1)));
      else if (type === 'zset') values.push(...(await redis.zrange(key, '0', '-1')));
      else if (type === 'stream') values.push(JSON.stringify(await redis.xrange(key, '-', '+')));
    }
  } finally {
    redis.disconnect();
  }
  return values;
}

/**
 * The secret scan: no secret (by name) occurs in any place (by name: log lines, Redis values, rows…).
 * Each place must hold something, so an empty capture cannot pass by accident.
 */
export function expectNoSecrets(secrets: Record<string, string>, places: Record<string, string | string[]>): void {
  for (const [where, content] of Object.entries(places)) {
    const text = Array.isArray(content) ? content.join('\n') : content;
    expect(text.length, `${where} holds something to scan`).toBeGreaterThan(0);
    for (const [name, secret] of Object.entries(secrets)) {
      expect(secret.length, `${name} is a real value`).toBeGreaterThan(0);
      expect(text.includes(secret), `${name} in ${where}`).toBe(false);
    }
  }
}
