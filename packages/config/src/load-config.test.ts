import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactedConfig } from './load-config.js';
import { VIEWS } from './views.js';
import { schema } from './schema.js';

const base = { PUBLIC_URL: 'http://127.0.0.1:3000/', SEAL_KEYS: 'k1:x' };

describe('loadConfig', () => {
  it('applies defaults and trims the public URL', () => {
    const c = loadConfig(base);
    expect(c.PUBLIC_URL).toBe('http://127.0.0.1:3000');
    expect(c.QUEUE_PREFIX).toBe('{mcprt}');
    expect(c.SCAVIO_API_STYLE).toBe('v2');
  });

  it('names the wrong variable and not its value', () => {
    try {
      loadConfig({ ...base, PORT: 'eighty', SCAVIO_API_STYLE: 'secret-value-xyz' });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).toContain('PORT');
      expect(msg).toContain('SCAVIO_API_STYLE');
      expect(msg).not.toContain('secret-value-xyz');
    }
  });

  it('tracing (OTEL_*): off by default; lists parsed; grpc refused; exporter headers never printed', () => {
    const c = loadConfig(base);
    expect([c.OTEL_TRACES_EXPORTER, c.OTEL_EXPORTER_OTLP_PROTOCOL, c.OTEL_TRACES_SAMPLER]).toEqual(['none', 'http/protobuf', 'parentbased_always_on']);
    const on = loadConfig({
      ...base,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20otlp-secret-123, x-tenant = ops',
      OTEL_RESOURCE_ATTRIBUTES: 'deployment.environment.name=prod',
      OTEL_TRACES_SAMPLER: 'traceidratio',
      OTEL_TRACES_SAMPLER_ARG: '0.25',
    });
    expect(on.OTEL_EXPORTER_OTLP_HEADERS).toEqual({ authorization: 'Bearer otlp-secret-123', 'x-tenant': 'ops' });
    expect(on.OTEL_RESOURCE_ATTRIBUTES).toEqual({ 'deployment.environment.name': 'prod' });
    expect(on.OTEL_TRACES_SAMPLER_ARG).toBe(0.25);
    expect(JSON.stringify(on)).not.toContain('otlp-secret-123');
    expect(() => loadConfig({ ...base, OTEL_EXPORTER_OTLP_PROTOCOL: 'grpc' })).toThrow(/OTEL_EXPORTER_OTLP_PROTOCOL/);
    expect(() => loadConfig({ ...base, OTEL_TRACES_EXPORTER: 'zipkin' })).toThrow(/OTEL_TRACES_EXPORTER/);
    expect(() => loadConfig({ ...base, OTEL_EXPORTER_OTLP_HEADERS: 'no-equals-sign' })).toThrow(/OTEL_EXPORTER_OTLP_HEADERS/);
    expect(() => loadConfig({ ...base, OTEL_TRACES_SAMPLER_ARG: '2' })).toThrow(/OTEL_TRACES_SAMPLER_ARG/);
  });

  it('requires SEAL_KEYS and PUBLIC_URL', () => {
    expect(() => loadConfig({})).toThrow(/SEAL_KEYS[\s\S]*|PUBLIC_URL/);
  });

  it('TRUST_PROXY is the number of proxy hops believed: false/0 none, true/1 one, N a chain; anything else is refused', () => {
    expect(loadConfig(base).TRUST_PROXY).toBe(0);
    expect(loadConfig({ ...base, TRUST_PROXY: 'false' }).TRUST_PROXY).toBe(0);
    expect(loadConfig({ ...base, TRUST_PROXY: 'true' }).TRUST_PROXY).toBe(1);
    expect(loadConfig({ ...base, TRUST_PROXY: '2' }).TRUST_PROXY).toBe(2);
    for (const bad of ['yes', '-1', '1.5', 'all']) expect(() => loadConfig({ ...base, TRUST_PROXY: bad }), bad).toThrow(/TRUST_PROXY/);
  });

  it('refuses development switches in production', () => {
    expect(() => loadConfig({ ...base, NODE_ENV: 'production', ENABLE_TEST_TOOLS: 'true' })).toThrow(
      /ENABLE_TEST_TOOLS[\s\S]*PUBLIC_URL|PUBLIC_URL[\s\S]*ENABLE_TEST_TOOLS/,
    );
  });
});

describe('Redis: one node or a cluster', () => {
  const seeds = 'redis://default:pw@10.0.0.1:7001, redis://default:pw@10.0.0.2:7001';
  it('reads one URL for one Redis, a list of seed nodes for a cluster', () => {
    expect(loadConfig(base, 'worker')).toMatchObject({ REDIS_URL: 'redis://127.0.0.1:6379', REDIS_CLUSTER: false });
    expect(loadConfig({ ...base, REDIS_CLUSTER: 'true', REDIS_URL: seeds }, 'api')).toMatchObject({ REDIS_CLUSTER: true, REDIS_URL: seeds });
    expect(loadConfig({ ...base, REDIS_CLUSTER: 'true', REDIS_URL: 'rediss://h:6380' }, 'worker').REDIS_CLUSTER).toBe(true);
  });

  it('refuses several nodes without REDIS_CLUSTER, a database number or a prefix without a hash tag on a cluster, other schemes', () => {
    expect(() => loadConfig({ ...base, REDIS_URL: seeds }, 'api')).toThrow(/REDIS_URL: lists several nodes/);
    expect(() => loadConfig({ ...base, REDIS_CLUSTER: 'true', REDIS_URL: 'redis://h:7001/2' }, 'api')).toThrow(
      /REDIS_URL: a Redis Cluster has database 0 only/,
    );
    expect(() => loadConfig({ ...base, REDIS_CLUSTER: 'true', QUEUE_PREFIX: 'mcprt' }, 'worker')).toThrow(/QUEUE_PREFIX: needs a hash tag/);
    expect(() => loadConfig({ ...base, REDIS_CLUSTER: 'true', QUEUE_PREFIX: '{}mcprt' }, 'worker')).toThrow(/QUEUE_PREFIX/);
    for (const bad of ['http://h:6379', 'redis://h:1,', 'h:6379', 'redis://h:1?db=2', 'redis-cluster://a:1,b:2'])
      expect(() => loadConfig({ ...base, REDIS_CLUSTER: 'true', REDIS_URL: bad }, 'api'), bad).toThrow(/REDIS_URL/);
    expect(() => loadConfig({ ...base, REDIS_CLUSTER: 'yes' }, 'api')).toThrow(/REDIS_CLUSTER/);
    // A single Redis keeps its database number and any prefix.
    expect(loadConfig({ ...base, REDIS_URL: 'redis://h:6379/3', QUEUE_PREFIX: 'plain' }, 'worker').QUEUE_PREFIX).toBe('plain');
  });

  it('masks the password of every node of the list when printed', async () => {
    const { inspect } = await import('node:util');
    const c = loadConfig({ ...base, REDIS_CLUSTER: 'true', REDIS_URL: 'redis://default:s3cret-a@n1:7001,redis://default:s3cret-b@n2:7001' });
    expect(inspect(c)).not.toMatch(/s3cret/);
    expect(JSON.stringify(c)).toContain('n2:7001');
  });
});

describe('a printed configuration', () => {
  it('shows no seal key, API key or connection password, as JSON or through util.inspect', async () => {
    const { inspect } = await import('node:util');
    const c = loadConfig({
      ...base,
      SEAL_KEYS: 'k1:c2VjcmV0LXNlYWwta2V5LWJ5dGVz',
      SCAVIO_API_KEY: 'sk_live_do_not_print',
      DATABASE_URL: 'postgres://mcprt_app:db-s3cret@db.internal:5432/mcprt',
      REDIS_URL: 'redis://default:redis-s3cret@redis.internal:6379',
    });
    for (const printed of [
      JSON.stringify(c),
      JSON.stringify({ config: c }),
      inspect(c),
      inspect({ config: c }),
      `${JSON.stringify({ ...redactedConfig(c) })}`,
    ]) {
      expect(printed).not.toMatch(/c2VjcmV0|sk_live_do_not_print|db-s3cret|redis-s3cret/);
      expect(printed).toContain('db.internal:5432');
    }
    // The values themselves are intact for the code that uses them.
    expect(c.SEAL_KEYS).toBe('k1:c2VjcmV0LXNlYWwta2V5LWJ5dGVz');
    expect(c.DATABASE_URL).toContain('db-s3cret');
  });

  it('serves metrics on their own loopback port by default', () => {
    const c = loadConfig(base);
    expect(c.METRICS_PORT).not.toBe(c.PORT);
    expect(c.METRICS_HOST).toBe('127.0.0.1');
  });
});

describe('one view per process', () => {
  it('each process reads only its own settings: a wrong setting of another process does not stop it', () => {
    expect(() => loadConfig({ ...base, WORKER_CONCURRENCY: 'many' }, 'api')).not.toThrow();
    expect(() => loadConfig({ ...base, WORKER_CONCURRENCY: 'many' }, 'worker')).toThrow(/WORKER_CONCURRENCY/);
    expect(() => loadConfig({ ...base, PORT: 'eighty' }, 'worker')).not.toThrow();
    expect(() => loadConfig({ ...base, PORT: 'eighty' }, 'api')).toThrow(/PORT/);
    const worker = loadConfig(base, 'worker');
    expect(worker).not.toHaveProperty('PORT');
    expect(worker.WORKER_CONCURRENCY).toBe(16);
    const cli = loadConfig(base, 'cli');
    expect(Object.keys(cli).sort()).toEqual([...VIEWS.cli].filter((k) => k in cli).sort());
    expect(cli).not.toHaveProperty('REDIS_URL');
  });

  it('every view names only variables of the schema, and every variable is read by some process', () => {
    const all = new Set(Object.keys(schema.shape));
    const read = new Set(Object.values(VIEWS).flat());
    for (const k of read) expect(all.has(k), k).toBe(true);
    for (const k of all) expect(read.has(k as never), k).toBe(true);
  });

  it('keeps the production rules and the clear, secret-free errors in each view', () => {
    for (const view of ['api', 'worker', 'cli'] as const) {
      expect(() => loadConfig({ ...base, NODE_ENV: 'production', ENABLE_TEST_TOOLS: 'true' }, view), view).toThrow(
        /ENABLE_TEST_TOOLS[\s\S]*PUBLIC_URL|PUBLIC_URL[\s\S]*ENABLE_TEST_TOOLS/,
      );
      expect(() => loadConfig({ PUBLIC_URL: base.PUBLIC_URL }, view), view).toThrow(/SEAL_KEYS/);
    }
    expect(() =>
      loadConfig({ ...base, NODE_ENV: 'production', PUBLIC_URL: 'https://mcp.example', MIGRATE_DATABASE_URL: 'postgres://o@db/x' }, 'worker'),
    ).toThrow(/MIGRATE_DATABASE_URL: must not be set in production/);
  });

  it('hides secrets in a view as in the whole configuration', () => {
    const c = loadConfig({ ...base, SEAL_KEYS: 'k1:c2VjcmV0', SCAVIO_API_KEY: 'sk_live_do_not_print' }, 'worker');
    expect(JSON.stringify(c)).not.toMatch(/c2VjcmV0|sk_live_do_not_print/);
    expect(c.SCAVIO_API_KEY).toBe('sk_live_do_not_print');
  });
});
