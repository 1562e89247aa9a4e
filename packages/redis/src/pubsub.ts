import type { RedisClient } from './connect.js';
import { isCluster } from './connect.js';

/**
 * Pub/sub on one Redis or a cluster. On one Redis: PUBLISH / SUBSCRIBE. On a cluster: sharded
 * pub/sub (SPUBLISH / SSUBSCRIBE, Redis 7): a message goes only to the shard that owns the channel's
 * slot (the prefix's hash tag: the queue's own shard), where plain PUBLISH is copied to every node over
 * the cluster bus; the subscriber follows the slot across failovers and resharding (ioredis
 * `shardedSubscribers`).
 */
export function publish(redis: RedisClient, channel: string, message: string): Promise<number> {
  return isCluster(redis) ? (redis.spublish(channel, message) as Promise<number>) : redis.publish(channel, message);
}

/** Subscribe `sub` (a connection of its own, role `subscriber`) to `channel`; `onMessage` gets each message. */
export function subscribe(sub: RedisClient, channel: string, onMessage: (message: string) => void): Promise<unknown> {
  const sharded = isCluster(sub);
  sub.on(sharded ? 'smessage' : 'message', (ch: string, message: string) => {
    if (ch === channel) onMessage(message);
  });
  return sharded ? sub.ssubscribe(channel) : sub.subscribe(channel);
}
