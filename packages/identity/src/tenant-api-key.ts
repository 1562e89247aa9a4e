import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Tenant back-office API keys: `mcprt_ak_<id>_<secret>` (their scopes: `API_KEY_SCOPES` in
 * @mcprt/policy). The id is public (lists, audit rows); the secret is 256 random bits, stored only as
 * its SHA-256 (a slow hash buys nothing for a secret that cannot be guessed), compared in constant time.
 */

const BASE32 = 'abcdefghijklmnopqrstuvwxyz234567';
const KEY = /^mcprt_ak_(ak[a-z2-7]{16})_([A-Za-z0-9_-]{43})$/;

const hashApiKeySecret = (secret: string): string => createHash('sha256').update(secret, 'utf8').digest('hex');

/** A new key: the full value (show it once) and what is stored. */
export function generateApiKey(): { id: string; key: string; secretHash: string } {
  const id = `ak${[...randomBytes(16)].map((b) => BASE32[b & 31]).join('')}`;
  const secret = randomBytes(32).toString('base64url');
  return { id, key: `mcprt_ak_${id}_${secret}`, secretHash: hashApiKeySecret(secret) };
}

/** Split a presented key; undefined when it cannot be one of ours (no lookup is spent on it). */
export function parseApiKey(value: string): { id: string; secret: string } | undefined {
  const m = KEY.exec(value);
  return m ? { id: m[1]!, secret: m[2]! } : undefined;
}

export function apiKeySecretMatches(secret: string, storedHash: string): boolean {
  const a = Buffer.from(hashApiKeySecret(secret), 'hex');
  const b = Buffer.from(storedHash, 'hex');
  return a.length === b.length && timingSafeEqual(a, b);
}
