import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
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

/** A connection to one Redis or to a Redis Cluster: what every user of Redis holds (BullMQ takes both). */
export type RedisClient = Redis | Cluster;

/** Where Redis is: the configuration's REDIS_URL (one URL, or a cluster's seed nodes) and REDIS_CLUSTER. */
export interface RedisTarget {
  REDIS_URL: string;
  REDIS_CLUSTER?: boolean;
}

const OPTIONS: Record<RedisRole, RedisOptions> = {
  'fail-fast': { maxRetriesPerRequest: 1, enableOfflineQueue: false, lazyConnect: false },
  blocking: { maxRetriesPerRequest: null },
  subscriber: { maxRetriesPerRequest: null },
};

/** Whether `redis` is a cluster client. */
export const isCluster = (redis: RedisClient): redis is Cluster => (redis as { isCluster?: boolean }).isCluster === true;

/** The seed nodes of a cluster, and what every node is reached with (user, password, TLS) from the first URL. */
export function clusterSeeds(list: string): { nodes: ClusterNode[]; auth: RedisOptions } {
  const urls = list.split(',').map((u) => new URL(u.trim()));
  const nodes = urls.map((u) => ({ host: u.hostname.replace(/^\[|\]$/g, ''), port: Number(u.port || 6379) }));
  const first = urls[0]!;
  const auth: RedisOptions = {
    ...(first.username ? { username: decodeURIComponent(first.username) } : {}),
    ...(first.password ? { password: decodeURIComponent(first.password) } : {}),
    ...(first.protocol === 'rediss:' ? { tls: { servername: first.hostname } } : {}),
  };
  return { nodes, auth };
}

function connectCluster(list: string, role: RedisRole): Cluster {
  const { nodes, auth } = clusterSeeds(list);
  const { lazyConnect: _ignored, ...perNode } = OPTIONS[role];
  const cluster = new Cluster(nodes, {
    redisOptions: { ...auth, ...perNode },
    // The API fails fast while the cluster is unknown, as it does on one Redis.
    enableOfflineQueue: role !== 'fail-fast',
    // The cancel channel is a sharded channel on a cluster (SSUBSCRIBE on the shard of its slot).
    shardedSubscribers: role === 'subscriber',
    // A node that restarts with its slots (no failover) is reconnected, not only found again through MOVED.
    clusterNodeRetryStrategy: (times) => Math.min(times * 100, 2_000),
  });
  // Each node's connection coalesces the writes of one loop turn, as the single connection does.
  if (role !== 'subscriber') cluster.on('+node', (node: Redis) => coalesceWrites(node));
  return cluster;
}

/**
 * The one way a process opens a Redis connection: one Redis, or a Redis Cluster (REDIS_CLUSTER=true,
 * REDIS_URL its seed nodes). Connection errors go to `onError` (ioredis reconnects by itself; an
 * unhandled `error` event would end the process). Connections that send commands coalesce the
 * commands of one event-loop turn into one socket write (coalesce-writes.ts), per node on a cluster.
 */
export function connectRedis(target: RedisTarget, role: RedisRole, onError: (err: unknown) => void): RedisClient {
  const redis = target.REDIS_CLUSTER ? connectCluster(target.REDIS_URL, role) : new Redis(target.REDIS_URL, OPTIONS[role]);
  redis.on('error', onError);
  if (isCluster(redis) || role === 'subscriber') return redis;
  return coalesceWrites(redis);
}
