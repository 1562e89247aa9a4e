import { connectRedis, isCluster, type RedisClient, type RedisTarget } from '@mcprt/redis';
import type { Redis } from 'ioredis';
import { TEST_REDIS_CLUSTER, TEST_REDIS_URL } from './test-config.js';

/** The test run's Redis (one node, or the cluster TEST_REDIS_CLUSTER names). */
export const TEST_REDIS: RedisTarget = { REDIS_URL: TEST_REDIS_URL, REDIS_CLUSTER: TEST_REDIS_CLUSTER };

/**
 * A test's own connection to a stack's Redis (`s.config`) or the test run's, opened as the runtime
 * opens its own (@mcprt/redis connectRedis), so a test drives a cluster the way the processes do.
 * Commands wait for Redis (role `blocking`: fine for BullMQ's Queue too).
 */
export function openRedis(target: RedisTarget = TEST_REDIS, role: 'blocking' | 'subscriber' = 'blocking'): RedisClient {
  return connectRedis(target, role, () => undefined);
}

/** Every key matching `pattern`, on every primary of a cluster (SCAN walks one node only). */
export async function scanKeys(redis: RedisClient, pattern: string): Promise<string[]> {
  const nodes: Redis[] = isCluster(redis) ? (await clusterReady(redis), redis.nodes('master')) : [redis];
  const keys: string[] = [];
  for (const node of nodes) {
    let cursor = '0';
    do {
      const [next, found] = await node.scan(cursor, 'MATCH', pattern, 'COUNT', 500);
      cursor = next;
      keys.push(...found);
    } while (cursor !== '0');
  }
  return keys;
}

/** Delete keys one by one (keys of several slots cannot go in one DEL on a cluster). */
export async function deleteKeys(redis: RedisClient, keys: string[]): Promise<void> {
  await Promise.all(keys.map((k) => redis.del(k)));
}

async function clusterReady(redis: RedisClient & { status: string }): Promise<void> {
  if (redis.status !== 'ready') await redis.ping();
}
