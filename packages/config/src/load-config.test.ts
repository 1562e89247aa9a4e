import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig, redactedConfig } from './load-config.js';

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

describe('a printed configuration (issue 7 item 8)', () => {
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
