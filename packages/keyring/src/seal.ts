import { createCipheriv, createDecipheriv, randomBytes, type KeyObject } from 'node:crypto';
import { encodeAad, type SealContext } from './context.js';
import { formatEnvelope, IV_BYTES, parseEnvelope, TAG_BYTES } from './envelope.js';
import { cryptoError } from './errors.js';
import type { Keyring } from './keyring.js';

const ALGORITHM = 'aes-256-gcm';

function keyOrThrow(keyring: Keyring, kid: string): KeyObject {
  const key = keyring.keyFor(kid);
  if (!key) throw cryptoError('seal_unknown_key', `sealed value uses unknown key id "${kid}"`);
  return key;
}

/**
 * Encrypt `plaintext` under the active key, bound to `aad`. A fresh random IV
 * per call; at 96 bits the collision risk is negligible well past any token
 * volume we expect per key, and rotation resets the count.
 */
export function seal(keyring: Keyring, plaintext: string, aad: SealContext): string {
  const kid = keyring.activeKid;
  const iv = randomBytes(IV_BYTES);
  const cipher = createCipheriv(ALGORITHM, keyOrThrow(keyring, kid), iv, { authTagLength: TAG_BYTES });
  cipher.setAAD(encodeAad(aad));
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
  return formatEnvelope({ kid, iv, ciphertext, tag: cipher.getAuthTag() });
}

/** Decrypt a value from `seal`, with whichever keyring key it names. */
export function open(keyring: Keyring, sealed: string, aad: SealContext): string {
  const { kid, iv, ciphertext, tag } = parseEnvelope(sealed);
  const key = keyOrThrow(keyring, kid);
  const aadBytes = encodeAad(aad);
  try {
    const decipher = createDecipheriv(ALGORITHM, key, iv, { authTagLength: TAG_BYTES });
    decipher.setAuthTag(tag);
    decipher.setAAD(aadBytes);
    return Buffer.concat([decipher.update(ciphertext), decipher.final()]).toString('utf8');
  } catch (cause) {
    // GCM cannot say which of key, iv, ciphertext, tag or AAD was wrong, and we
    // would not want to tell an attacker anyway.
    throw cryptoError('seal_invalid', 'sealed value failed authentication', cause);
  }
}

/** The key id a sealed value was made with, without decrypting it. */
export function sealedKid(sealed: string): string {
  return parseEnvelope(sealed).kid;
}

/**
 * Re-encrypt under the active key (for rotation jobs). A value already under
 * the active key is returned unchanged, but still opened first so a rotation
 * sweep reports tampered or misfiled rows instead of skipping them.
 */
export function reseal(keyring: Keyring, sealed: string, aad: SealContext): string {
  const plaintext = open(keyring, sealed, aad);
  if (sealedKid(sealed) === keyring.activeKid) return sealed;
  return seal(keyring, plaintext, aad);
}
