import { cryptoError } from './errors.js';

/** The fields of a seal context (see SealContext). */
export interface SealFields {
  tenantId: string;
  userId: string;
  credentialId: string;
  /** What the value is: a purpose named in the registry (purposes.ts). */
  purpose: string;
}

declare const fromRegistry: unique symbol;

/**
 * Who and what a sealed value belongs to. It is bound into the ciphertext as
 * AAD, so a value copied to another tenant's, user's or credential's row, or
 * from a refresh_token column into an access_token one, fails to open.
 * Only the registry of seal purposes makes one (the brand), so every purpose
 * is listed, with where it is held and how a key rotation reaches it, in one place.
 */
export type SealContext = Readonly<SealFields> & { readonly [fromRegistry]: true };

/** The registry's constructor (purposes.ts); not exported from the package. */
export const sealContext = (fields: SealFields): SealContext => Object.freeze({ ...fields }) as SealContext;

// Domain tag so these bytes can never be confused with AAD of another format/version.
const AAD_TAG = 'mcprt.seal.v1';

/**
 * Canonical AAD: a JSON array in fixed field order. JSON string escaping makes
 * field boundaries unambiguous (no "a|b" + "c" == "a" + "b|c" collisions), and
 * an array does not depend on the caller's property order.
 */
export function encodeAad(ctx: SealFields): Buffer {
  const fields = [ctx.tenantId, ctx.userId, ctx.credentialId, ctx.purpose];
  // An empty or missing field would silently weaken the binding (every user
  // with userId '' could swap values), so refuse it instead.
  if (!fields.every((f) => typeof f === 'string' && f !== '')) {
    throw cryptoError('seal_context_invalid', 'seal context needs non-empty tenantId, userId, credentialId and purpose');
  }
  return Buffer.from(JSON.stringify([AAD_TAG, ...fields]), 'utf8');
}
