export { coalesceWrites } from './coalesce-writes.js';
export { connectRedis } from './connect.js';
export type { RedisRole } from './connect.js';
export { hashTagOf, redisKeys } from './keys.js';
export type { RedisKeys } from './keys.js';
