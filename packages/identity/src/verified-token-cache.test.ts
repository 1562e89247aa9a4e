import { describe, expect, it } from 'vitest';
import { VerifiedTokenCache } from './verified-token-cache.js';
import type { VerifiedToken } from './verify-access-token.js';

const token = (expiresInSeconds: number): VerifiedToken => ({
  issuer: 'https://idp.example',
  subject: 'alice',
  scopes: [],
  clientId: undefined,
  expiresAt: Math.floor(Date.now() / 1000) + expiresInSeconds,
  email: undefined,
  name: undefined,
});

describe('VerifiedTokenCache', () => {
  it('is bounded: 5 000 distinct tokens leave at most max entries', () => {
    const cache = new VerifiedTokenCache(60_000, 100);
    for (let i = 0; i < 5_000; i++) cache.set(cache.key('https://idp.example', 'https://api.example/t/a/mcp', `t${i}`), token(600));
    expect(cache.size).toBe(100);
    // The most recent ones are the ones kept.
    expect(cache.get(cache.key('https://idp.example', 'https://api.example/t/a/mcp', 't4999'))).toBeDefined();
    expect(cache.get(cache.key('https://idp.example', 'https://api.example/t/a/mcp', 't0'))).toBeUndefined();
  });

  it('never outlives the token: an expired token is not kept, a short-lived one goes at its exp', async () => {
    const cache = new VerifiedTokenCache(60_000, 100);
    const expired = cache.key('i', 'a', 'expired');
    cache.set(expired, token(-1));
    expect(cache.get(expired)).toBeUndefined();
    const short = cache.key('i', 'a', 'short');
    cache.set(short, { ...token(0), expiresAt: Date.now() / 1000 + 0.2 });
    expect(cache.get(short)).toBeDefined();
    await new Promise((r) => setTimeout(r, 250));
    expect(cache.get(short)).toBeUndefined();
  });

  it('keeps an entry at most maxAgeMs, even for a long-lived token', async () => {
    const cache = new VerifiedTokenCache(100, 100);
    const k = cache.key('i', 'a', 'long');
    cache.set(k, token(3600));
    expect(cache.get(k)).toBeDefined();
    await new Promise((r) => setTimeout(r, 150));
    expect(cache.get(k)).toBeUndefined();
  });

  it('keys on issuer, audience and the token: the same token for another audience is a miss', () => {
    const cache = new VerifiedTokenCache();
    cache.set(cache.key('i', 'https://x/t/a/mcp', 'tok'), token(600));
    expect(cache.get(cache.key('i', 'https://x/t/b/mcp', 'tok'))).toBeUndefined();
    expect(cache.key('i', 'a', 'tok')).not.toContain('tok');
  });
});
