import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import type { VerifiedToken } from './verify-access-token.js';

/**
 * Remembers successful verifications, keyed by (issuer, audience, SHA-256 of the token), so a client
 * sending the same JWT on every request pays for one signature check. An entry never outlives the
 * token's `exp`, nor `maxAgeMs` (so a key removed from the issuer's JWKS stops working within it).
 * Failures are never cached. The raw token is not kept. At most `max` entries (least recently used
 * go first): only verified tokens get in, and there are never more than `max` of them.
 */
export class VerifiedTokenCache {
  readonly #cache: LRUCache<string, VerifiedToken>;

  constructor(
    private readonly maxAgeMs = 60_000,
    max = 10_000,
  ) {
    this.#cache = new LRUCache({ max, ttl: maxAgeMs });
  }

  key(issuer: string, audience: string, token: string): string {
    return `${issuer}\u0000${audience}\u0000${createHash('sha256').update(token).digest('base64url')}`;
  }

  get(key: string): VerifiedToken | undefined {
    return this.#cache.get(key);
  }

  set(key: string, token: VerifiedToken): void {
    const ttl = Math.min(token.expiresAt * 1000 - Date.now(), this.maxAgeMs);
    if (ttl > 0) this.#cache.set(key, token, { ttl });
  }

  get size(): number {
    return this.#cache.size;
  }
}
