import { createHash } from 'node:crypto';
import type { VerifiedToken } from './verify-access-token.js';

/**
 * Remembers successful verifications, keyed by (issuer, audience, SHA-256 of the token), so a client
 * sending the same JWT on every request pays for one signature check. An entry never outlives the
 * token's `exp`, nor `maxAgeMs` (so a key removed from the issuer's JWKS stops working within it).
 * Failures are never cached. The raw token is not kept.
 */
export class VerifiedTokenCache {
  readonly #map = new Map<string, { until: number; token: VerifiedToken }>();

  constructor(
    private readonly maxAgeMs = 60_000,
    private readonly max = 10_000,
  ) {}

  key(issuer: string, audience: string, token: string): string {
    return `${issuer}\u0000${audience}\u0000${createHash('sha256').update(token).digest('base64url')}`;
  }

  get(key: string): VerifiedToken | undefined {
    const hit = this.#map.get(key);
    if (!hit) return undefined;
    if (Date.now() >= hit.until) {
      this.#map.delete(key);
      return undefined;
    }
    return hit.token;
  }

  set(key: string, token: VerifiedToken): void {
    if (this.#map.size >= this.max) this.#map.delete(this.#map.keys().next().value!);
    this.#map.set(key, { until: Math.min(token.expiresAt * 1000, Date.now() + this.maxAgeMs), token });
  }
}
