import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from './load-config.js';

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

  it('refuses development switches in production', () => {
    expect(() => loadConfig({ ...base, NODE_ENV: 'production', ENABLE_TEST_TOOLS: 'true' })).toThrow(
      /ENABLE_TEST_TOOLS[\s\S]*PUBLIC_URL|PUBLIC_URL[\s\S]*ENABLE_TEST_TOOLS/,
    );
  });
});
