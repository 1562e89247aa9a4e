import { randomUUID } from 'node:crypto';
import { open, seal, sealPurposes, type Keyring } from '@mcprt/keyring';
import type { OidcStoreRepository } from '@mcprt/db';
import { exportJWK, generateKeyPair, importJWK, SignJWT, type JWK } from 'jose';

export const SIGNING_ALG = 'ES256';

const keyContext = sealPurposes.as_signing_key.context;

export interface TenantKeys {
  /** For oidc-provider: the signing key first, then retired keys that still verify. */
  privateJwks: JWK[];
  /** For the resource server's in-process verification. */
  publicJwks: JWK[];
}

/**
 * A built-in authorization server's signing keys: read from `tenant_signing_keys` and opened with the
 * keyring; the first key is created (ES256) the first time a tenant's server starts. Private keys
 * exist in clear only in this process's memory.
 */
export async function loadSigningKeys(tenantId: string, repo: OidcStoreRepository, keyring: Keyring): Promise<TenantKeys> {
  let rows = await repo.signingKeys();
  if (rows.length === 0) {
    await repo.addFirstSigningKey(await newKey(tenantId, keyring));
    rows = await repo.signingKeys();
  }
  // Newest unretired key signs; every key verifies.
  rows.sort((a, b) => Number(a.retiredAt !== null) - Number(b.retiredAt !== null) || b.createdAt.getTime() - a.createdAt.getTime());
  const privateJwks = rows.map((r) => JSON.parse(open(keyring, r.privateJwkSealed, keyContext(tenantId, r.kid))) as JWK);
  const publicJwks = privateJwks.map(({ kty, crv, x, y, kid, alg, use }) => ({ kty, crv, x, y, kid, alg, use }) as JWK);
  return { privateJwks, publicJwks };
}

async function newKey(tenantId: string, keyring: Keyring) {
  const kid = randomUUID();
  const { privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const jwk = { ...(await exportJWK(privateKey)), kid, alg: SIGNING_ALG, use: 'sig' };
  return { kid, alg: SIGNING_ALG, privateJwkSealed: seal(keyring, JSON.stringify(jwk), keyContext(tenantId, kid)) };
}

/**
 * Operator rotation (`pnpm cli as rotate-key`): a new key signs from now on; the previous ones are
 * marked retired and keep verifying (tokens they signed live at most the access-token TTL). Running
 * API processes pick the new key up when a token names a kid they do not know (`AuthServers`).
 */
export async function rotateSigningKey(tenantId: string, repo: OidcStoreRepository, keyring: Keyring): Promise<{ kid: string; retired: number }> {
  const k = await newKey(tenantId, keyring);
  const retired = await repo.rotateSigningKey(k);
  return { kid: k.kid, retired };
}

/**
 * An access token exactly as a built-in tenant's authorization server issues it, signed with its
 * current key — for the development `dev token` command (refused in production) and the benchmark,
 * which have no browser to sign in with.
 */
export async function mintBuiltinAccessToken(
  keys: TenantKeys,
  t: { issuer: string; audience: string; subject: string; scope: string; clientId: string; ttlSeconds?: number },
): Promise<string> {
  const jwk = keys.privateJwks[0];
  if (!jwk?.kid) throw new Error('tenant has no signing key');
  const now = Math.floor(Date.now() / 1000);
  return new SignJWT({ scope: t.scope, client_id: t.clientId })
    .setProtectedHeader({ alg: SIGNING_ALG, kid: jwk.kid, typ: 'at+jwt' })
    .setIssuer(t.issuer)
    .setAudience(t.audience)
    .setSubject(t.subject)
    .setIssuedAt(now)
    .setExpirationTime(now + (t.ttlSeconds ?? 600))
    .setJti(randomUUID())
    .sign(await importJWK(jwk, SIGNING_ALG));
}
