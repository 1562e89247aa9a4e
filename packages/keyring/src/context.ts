import { cryptoError } from './errors.js';

/**
 * Who and what a sealed value belongs to. It is bound into the ciphertext as
 * AAD, so a value copied to another tenant's, user's or credential's row, or
 * from a refresh_token column into an access_token one, fails to open.
 */
export interface SealContext {
  tenantId: string;
  userId: string;
  credentialId: string;
  /** What the value is, e.g. 'access_token', 'refresh_token', 'queue'. */
  purpose: string;
}

// Domain tag so these bytes can never be confused with AAD of another format/version.
const AAD_TAG = 'mcprt.seal.v1';

/**
 * Canonical AAD: a JSON array in fixed field order. JSON string escaping makes
 * field boundaries unambiguous (no "a|b" + "c" == "a" + "b|c" collisions), and
 * an array does not depend on the caller's property order.
 */
export function encodeAad(ctx: SealContext): Buffer {
  const fields = [ctx.tenantId, ctx.userId, ctx.credentialId, ctx.purpose];
  // An empty or missing field would silently weaken the binding (every user
  // with userId '' could swap values), so refuse it instead.
  if (!fields.every((f) => typeof f === 'string' && f !== '')) {
    throw cryptoError('seal_context_invalid', 'seal context needs non-empty tenantId, userId, credentialId and purpose');
  }
  return Buffer.from(JSON.stringify([AAD_TAG, ...fields]), 'utf8');
}
