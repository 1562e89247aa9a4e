import { createHash, createPrivateKey, createPublicKey, hkdfSync, sign, verify, type KeyObject } from 'node:crypto';
import { canonicalJson } from '@mcprt/keyring';
import type { Keyring } from '@mcprt/keyring';

/**
 * The verifiable audit trail (docs/audit.md "Verification algorithm"): how an audit
 * row is encoded and hashed, how a checkpoint seals a run of rows, and the tenant's Ed25519 key that
 * signs checkpoints. Only `node:crypto`: the offline verifier uses exactly these functions.
 */

/** An audit row in the form that is hashed (and exported): `at` in UTC with microseconds, as Postgres stores it. */
export interface AuditRowForm {
  id: number;
  tenantId: string;
  userId: string | null;
  clientId: string | null;
  callId: string | null;
  tool: string | null;
  action: string;
  decision: string;
  reason: string | null;
  requestId: string | null;
  /** `YYYY-MM-DDTHH:MM:SS.ffffffZ` */
  at: string;
}

/** The fields a checkpoint signs (its canonical JSON is the signed message). */
export interface CheckpointPayload {
  v: 1;
  tenantId: string;
  seq: number;
  firstId: number;
  lastId: number;
  count: number;
  minAt: string;
  maxAt: string;
  /** Hex SHA-256 over the 32-byte leaf hashes of the sealed rows, concatenated in id order. */
  rowsHash: string;
  /** `hash` of checkpoint seq-1; 64 zeros for seq 1. */
  prevHash: string;
  keyId: string;
}

/** A checkpoint with what makes it checkable: its hash and signature, and the ids and leaf hashes of the rows it sealed. */
export interface SealedCheckpoint extends Omit<CheckpointPayload, 'v'> {
  hash: string;
  signature: string;
  ids: number[];
  /** The 32-byte leaves of its rows, concatenated in id order. */
  leaves: Buffer;
}

export const GENESIS_HASH = '0'.repeat(64);
const LEAF_PREFIX = 'mcprt.audit.row.v1\n';

/** The row's canonical text: a JSON array in a fixed field order (no key-order questions, no whitespace). */
const canonicalAuditRow = (r: AuditRowForm): string =>
  JSON.stringify([r.id, r.tenantId, r.userId, r.clientId, r.callId, r.tool, r.action, r.decision, r.reason, r.requestId, r.at]);

/** leaf = SHA-256("mcprt.audit.row.v1\n" ‖ canonical row), 32 bytes. */
export const auditLeaf = (r: AuditRowForm): Buffer =>
  createHash('sha256')
    .update(LEAF_PREFIX + canonicalAuditRow(r), 'utf8')
    .digest();

/** rowsHash = hex SHA-256(leaf_1 ‖ … ‖ leaf_n). */
export const rowsHashOf = (leaves: Buffer): string => createHash('sha256').update(leaves).digest('hex');

/** The signed fields of a checkpoint record (a stored or exported one carries more: hash, signature, ids, leaves). */
export const checkpointPayloadOf = (cp: Omit<CheckpointPayload, 'v'>): CheckpointPayload => ({
  v: 1,
  tenantId: cp.tenantId,
  seq: cp.seq,
  firstId: cp.firstId,
  lastId: cp.lastId,
  count: cp.count,
  minAt: cp.minAt,
  maxAt: cp.maxAt,
  rowsHash: cp.rowsHash,
  prevHash: cp.prevHash,
  keyId: cp.keyId,
});

/** The signed message: canonical JSON (keys sorted) of the payload. */
const checkpointMessage = (p: CheckpointPayload): string => canonicalJson(p);

/** hash = hex SHA-256 of the signed message; the next checkpoint's prevHash. */
export const checkpointHash = (p: CheckpointPayload): string => createHash('sha256').update(checkpointMessage(p), 'utf8').digest('hex');

// PKCS#8 prefix of a raw 32-byte Ed25519 seed (RFC 8410).
const ED25519_PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');

/**
 * The tenant's audit signing key for keyring key `kid`: an Ed25519 seed derived with HKDF-SHA256 from
 * that key (info binds the purpose and the tenant), so it needs no storage of its own, rotates with
 * the keyring, and one tenant's key says nothing about another's.
 */
export function auditSigningKey(
  keyring: Keyring,
  tenantId: string,
  kid = keyring.activeKid,
): { keyId: string; privateKey: KeyObject; publicKey: KeyObject } | undefined {
  const secret = keyring.keyFor(kid);
  if (!secret) return undefined;
  const seed = Buffer.from(hkdfSync('sha256', secret.export(), Buffer.alloc(0), `mcprt.audit-signing.v1:${tenantId}`, 32));
  const privateKey = createPrivateKey({ key: Buffer.concat([ED25519_PKCS8_PREFIX, seed]), format: 'der', type: 'pkcs8' });
  seed.fill(0);
  const publicKey = createPublicKey(privateKey);
  // `audit-<kid>-<fingerprint>`: names the keyring key it comes from, and differs per tenant.
  const x = (publicKey.export({ format: 'jwk' }) as { x: string }).x;
  const fingerprint = createHash('sha256').update(x).digest('base64url').slice(0, 12);
  return { keyId: `audit-${kid}-${fingerprint}`, privateKey, publicKey };
}

/** A public key as published at /t/:tenant/v1/audit-keys (RFC 8037 OKP JWK). */
export interface AuditPublicJwk {
  kty: 'OKP';
  crv: 'Ed25519';
  x: string;
  kid: string;
  alg: 'EdDSA';
  use: 'sig';
}

/** The tenant's audit public keys, one per keyring key (the active one first). */
export function auditPublicKeys(keyring: Keyring, tenantId: string): AuditPublicJwk[] {
  const kids = [keyring.activeKid, ...keyring.kids.filter((k) => k !== keyring.activeKid)];
  return kids.map((kid) => {
    const k = auditSigningKey(keyring, tenantId, kid)!;
    const jwk = k.publicKey.export({ format: 'jwk' }) as { x: string };
    return { kty: 'OKP', crv: 'Ed25519', x: jwk.x, kid: k.keyId, alg: 'EdDSA', use: 'sig' };
  });
}

/** A published JWK back to a key object (for verification). */
export const publicKeyFromJwk = (jwk: Pick<AuditPublicJwk, 'x'>): KeyObject =>
  createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, format: 'jwk' });

export const signCheckpoint = (p: CheckpointPayload, privateKey: KeyObject): string =>
  sign(null, Buffer.from(checkpointMessage(p), 'utf8'), privateKey).toString('base64url');

export function checkpointSignatureValid(p: CheckpointPayload, signature: string, publicKey: KeyObject): boolean {
  try {
    return verify(null, Buffer.from(checkpointMessage(p), 'utf8'), publicKey, Buffer.from(signature, 'base64url'));
  } catch {
    return false;
  }
}

/** A checkpoint's payload with its hash and signature under `privateKey`. */
export function signedCheckpoint(p: CheckpointPayload, privateKey: KeyObject): CheckpointPayload & { hash: string; signature: string } {
  return { ...p, hash: checkpointHash(p), signature: signCheckpoint(p, privateKey) };
}

/** Why `cp` does not verify with the tenant's audit keys (signature, hash, rows hash), or undefined when it does. */
export function checkpointProblem(keyring: Keyring, cp: SealedCheckpoint): string | undefined {
  const payload = checkpointPayloadOf(cp);
  const jwk = auditPublicKeys(keyring, cp.tenantId).find((k) => k.kid === cp.keyId);
  if (!jwk) return `it is signed with key ${cp.keyId}, which is not one of the keyring's audit keys`;
  if (!checkpointSignatureValid(payload, cp.signature, publicKeyFromJwk(jwk))) return 'its signature does not verify';
  if (checkpointHash(payload) !== cp.hash) return 'its hash does not match its fields';
  if (cp.leaves.length !== 32 * cp.count || rowsHashOf(cp.leaves) !== cp.rowsHash) return 'its sealed leaves do not match its rows hash';
  return undefined;
}
