import { describe, expect, it } from 'vitest';
import { egressAllowsPrivate, loadConfig } from './load-config.js';

const base = { SEAL_KEYS: 'k1:x' };

describe('private egress switch', () => {
  it('is off by default in production, on by default in development and tests, and can be set either way', () => {
    expect(egressAllowsPrivate(loadConfig({ ...base, NODE_ENV: 'production', PUBLIC_URL: 'https://mcp.example' }))).toBe(false);
    expect(egressAllowsPrivate(loadConfig({ ...base, NODE_ENV: 'development', PUBLIC_URL: 'http://127.0.0.1:3000' }))).toBe(true);
    expect(egressAllowsPrivate(loadConfig({ ...base, NODE_ENV: 'test', PUBLIC_URL: 'http://127.0.0.1:3000' }))).toBe(true);
    expect(egressAllowsPrivate(loadConfig({ ...base, NODE_ENV: 'development', PUBLIC_URL: 'http://127.0.0.1:3000', EGRESS_ALLOW_PRIVATE: 'false' }))).toBe(
      false,
    );
    expect(loadConfig({ ...base, PUBLIC_URL: 'http://127.0.0.1:3000' }).IDP_FAILURE_CACHE_MS).toBe(5_000);
  });
});
