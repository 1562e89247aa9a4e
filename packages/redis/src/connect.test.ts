import { describe, expect, it } from 'vitest';
import { clusterSeeds, connectRedis, isCluster } from './connect.js';

describe('connectRedis on a cluster', () => {
  it('reads the seed nodes, and the first URL’s user, password (decoded) and TLS for every node', () => {
    const { nodes, auth } = clusterSeeds('rediss://app:p%40ss%2Fw@n1.internal:7001, redis://other:x@n2.internal,redis://[::1]:7003');
    expect(nodes).toEqual([
      { host: 'n1.internal', port: 7001 },
      { host: 'n2.internal', port: 6379 },
      { host: '::1', port: 7003 },
    ]);
    expect(auth).toEqual({ username: 'app', password: 'p@ss/w', tls: { servername: 'n1.internal' } });
    expect(clusterSeeds('redis://127.0.0.1:7101').auth).toEqual({});
  });

  it('opens a Cluster client only when REDIS_CLUSTER is true; the subscriber role uses sharded subscribers', async () => {
    const errors: unknown[] = [];
    const single = connectRedis({ REDIS_URL: 'redis://127.0.0.1:1' }, 'blocking', (e) => errors.push(e));
    const cluster = connectRedis({ REDIS_URL: 'redis://127.0.0.1:1,redis://127.0.0.1:2', REDIS_CLUSTER: true }, 'subscriber', (e) => errors.push(e));
    try {
      expect(isCluster(single)).toBe(false);
      expect(isCluster(cluster)).toBe(true);
      expect(isCluster(cluster) && cluster.options.shardedSubscribers).toBe(true);
      expect(isCluster(cluster) && cluster.options.redisOptions?.maxRetriesPerRequest).toBe(null);
    } finally {
      single.disconnect();
      cluster.disconnect();
    }
  });
});
