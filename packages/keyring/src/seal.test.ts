import { describe, expect, it } from 'vitest';
import { AppError } from '@mcprt/errors';
import { sealContext } from './context.js';
import { generateKey, parseKeyring } from './keyring.js';
import { open, reseal, seal, sealedKid } from './seal.js';

const keyA = generateKey();
const keyB = generateKey();
const ring = parseKeyring(`ka:${keyA}`);
const ctx = sealContext({ tenantId: 't1', userId: 'u1', credentialId: 'c1', purpose: 'access_token' });
const token = 'ya29.super-secret-token';

function errorCode(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    const err = e as AppError;
    expect(err.kind).toBe('internal');
    expect(err.expose).toBe(false);
    expect(err.retryable).toBe(false);
    expect(err.message).not.toContain(token);
    expect(err.message).not.toContain(keyA);
    return err.code;
  }
  throw new Error('expected an AppError');
}

/** Replace one dot-separated part (2=iv, 3=ciphertext, 4=tag) after flipping a bit in it. */
function tamper(sealed: string, index: number): string {
  const parts = sealed.split('.');
  const bytes = Buffer.from(parts[index]!, 'base64url');
  bytes[0] = bytes[0]! ^ 1;
  parts[index] = bytes.toString('base64url');
  return parts.join('.');
}

describe('seal/open', () => {
  it('round-trips, including empty and non-ASCII plaintext', () => {
    for (const text of [token, '', 'jeton-été-🔑']) expect(open(ring, seal(ring, text, ctx), ctx)).toBe(text);
  });

  it('has the v1 format and hides the plaintext', () => {
    const sealed = seal(ring, token, ctx);
    expect(sealed).toMatch(/^v1\.ka\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]{22}$/);
    expect(sealed).not.toContain(token);
    expect(sealedKid(sealed)).toBe('ka');
  });

  it('uses a fresh iv each time', () => {
    expect(seal(ring, token, ctx)).not.toBe(seal(ring, token, ctx));
  });

  it.each([
    ['user', { userId: 'u2' }],
    ['tenant', { tenantId: 't2' }],
    ['credential', { credentialId: 'c2' }],
    ['purpose', { purpose: 'refresh_token' }],
  ])('fails when moved to another %s', (_what, change) => {
    const sealed = seal(ring, token, ctx);
    expect(errorCode(() => open(ring, sealed, sealContext({ ...ctx, ...change })))).toBe('seal_invalid');
  });

  it('does not confuse field boundaries', () => {
    const a = sealContext({ tenantId: 't', userId: 'u1', credentialId: 'c', purpose: 'p' });
    const b = sealContext({ tenantId: 'tu', userId: '1', credentialId: 'c', purpose: 'p' });
    expect(errorCode(() => open(ring, seal(ring, token, a), b))).toBe('seal_invalid');
  });

  it.each([
    ['iv', 2],
    ['ciphertext', 3],
    ['tag', 4],
  ])('fails when the %s is altered', (_what, index) => {
    expect(errorCode(() => open(ring, tamper(seal(ring, token, ctx), index), ctx))).toBe('seal_invalid');
  });

  it('fails under a different key with the same kid', () => {
    const impostor = parseKeyring(`ka:${keyB}`);
    expect(errorCode(() => open(impostor, seal(ring, token, ctx), ctx))).toBe('seal_invalid');
  });

  it('fails with seal_unknown_key for a kid not in the keyring', () => {
    const other = parseKeyring(`kb:${keyB}`);
    const sealed = seal(other, token, ctx);
    expect(errorCode(() => open(ring, sealed, ctx))).toBe('seal_unknown_key');
    expect(errorCode(() => reseal(ring, sealed, ctx))).toBe('seal_unknown_key');
  });

  it.each([
    ['empty', ''],
    ['wrong version', seal(ring, token, ctx).replace(/^v1/, 'v2')],
    ['too few parts', 'v1.ka.abc.def'],
    ['bad kid', seal(ring, token, ctx).replace('.ka.', '.k!.')],
    ['short iv', seal(ring, token, ctx).replace(/^(v1\.ka\.)[^.]{4}/, '$1')],
    ['non-base64url tag', `${seal(ring, token, ctx).slice(0, -1)}*`],
  ])('fails with seal_malformed when %s', (_what, sealed) => {
    expect(errorCode(() => open(ring, sealed, ctx))).toBe('seal_malformed');
    expect(errorCode(() => sealedKid(sealed))).toBe('seal_malformed');
  });

  it('refuses an empty context field', () => {
    expect(errorCode(() => seal(ring, token, { ...ctx, userId: '' }))).toBe('seal_context_invalid');
  });
});

describe('rotation', () => {
  const oldRing = parseKeyring(`ka:${keyA}`);
  const rotated = parseKeyring(`ka:${keyA},kb:${keyB}`);

  it('opens old values after a new key becomes active', () => {
    const sealed = seal(oldRing, token, ctx);
    expect(rotated.activeKid).toBe('kb');
    expect(open(rotated, sealed, ctx)).toBe(token);
  });

  it('seals new values with the new key', () => {
    expect(sealedKid(seal(rotated, token, ctx))).toBe('kb');
  });

  it('reseal moves a value to the active key', () => {
    const sealed = seal(oldRing, token, ctx);
    const moved = reseal(rotated, sealed, ctx);
    expect(sealedKid(moved)).toBe('kb');
    expect(open(rotated, moved, ctx)).toBe(token);
    // Once the old key is retired, only the resealed value opens.
    const retired = parseKeyring(`kb:${keyB}`);
    expect(open(retired, moved, ctx)).toBe(token);
    expect(errorCode(() => open(retired, sealed, ctx))).toBe('seal_unknown_key');
  });

  it('reseal leaves a value already under the active key unchanged', () => {
    const sealed = seal(rotated, token, ctx);
    expect(reseal(rotated, sealed, ctx)).toBe(sealed);
  });

  it('reseal still authenticates, even when nothing needs moving', () => {
    const sealed = seal(rotated, token, ctx);
    expect(errorCode(() => reseal(rotated, sealed, { ...ctx, userId: 'u2' }))).toBe('seal_invalid');
    expect(errorCode(() => reseal(rotated, tamper(sealed, 4), ctx))).toBe('seal_invalid');
  });
});
