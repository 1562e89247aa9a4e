import { generateKeyPairSync, randomUUID } from 'node:crypto';
import type { JWK } from 'oidc-provider';

/** The one JWS algorithm the dev IdP signs with (ID tokens and JWT access tokens). */
export const SIGNING_ALG = 'ES256';

/**
 * A fresh P-256 signing key per start: tokens from an earlier run must not verify against a new
 * instance. The provider publishes only the public half at its `jwks_uri`.
 */
export function generateSigningJwks(): { keys: JWK[] } {
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const jwk = privateKey.export({ format: 'jwk' });
  return { keys: [{ ...jwk, kid: randomUUID(), alg: SIGNING_ALG, use: 'sig' } as JWK] };
}
