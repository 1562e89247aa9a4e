export { coalesceWrites } from './coalesce-writes.js';
export { clusterSeeds, connectRedis, isCluster } from './connect.js';
export type { RedisClient, RedisRole, RedisTarget } from './connect.js';
export { hashTagOf, redisKeys } from './keys.js';
export type { RedisKeys } from './keys.js';
export { publish, subscribe } from './pubsub.js';
