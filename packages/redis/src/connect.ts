import { Redis, type RedisOptions } from 'ioredis';
import { coalesceWrites } from './coalesce-writes.js';

/**
 * What a connection is for, which decides how it behaves while Redis is away:
 * - `fail-fast` (the API): a command fails at once instead of waiting in memory; what it served is
 *   recorded in Postgres and done again later (the reconciler enqueues a call whose add failed).
 * - `blocking` (the worker, BullMQ): commands wait for Redis to come back; BullMQ's blocking
 *   commands require `maxRetriesPerRequest: null`.
 * - `subscriber`: a connection that only listens on a pub/sub channel (it can do nothing else).
 */
export type RedisRole = 'fail-fast' | 'blocking' | 'subscriber';

const OPTIONS: Record<RedisRole, RedisOptions> = {
  'fail-fast': { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false },
  blocking: { maxRetriesPerRequest: null },
  subscriber: { maxRetriesPerRequest: null },
};

/**
 * The one way a process opens a Redis connection. Connection errors go to `onError` (ioredis
 * reconnects by itself; an unhandled `error` event would end the process). Connections that send
 * commands coalesce the commands of one event-loop turn into one socket write (coalesce-writes.ts).
 */
export function connectRedis(url: string, role: RedisRole, onError: (err: unknown) => void): Redis {
  const redis = new Redis(url, OPTIONS[role]);
  redis.on('error', onError);
  return role === 'subscriber' ? redis : coalesceWrites(redis);
}
