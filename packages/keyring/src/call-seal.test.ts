import { describe, expect, it } from 'vitest';
import { canonicalJson, openCallArguments, requestHash, requestHashMatches, sealCallArguments } from './call-seal.js';
import { generateKey, parseKeyring } from './keyring.js';
import { sealPurposes } from './purposes.js';
import { seal } from './seal.js';

const ids = { tenantId: 't-1', userId: 'u-1', callId: 'call_AAAAAAAAAAAAAAAAAAAAAA' };

describe('sealed call arguments', () => {
  const ring = parseKeyring(`k1:${generateKey()}`);

  it('open for the same call only: another call, user or tenant, or a credential context, fails', () => {
    const sealed = sealCallArguments(ring, ids, { secret: 'hunter2' });
    expect(sealed).not.toContain('hunter2');
    expect(openCallArguments(ring, ids, sealed)).toEqual({ secret: 'hunter2' });
    for (const other of [{ callId: 'call_BBBBBBBBBBBBBBBBBBBBBB' }, { userId: 'u-2' }, { tenantId: 't-2' }])
      expect(() => openCallArguments(ring, { ...ids, ...other }, sealed)).toThrow(/failed authentication/);
    // A credential sealed for the same ids (purpose access_token) does not open as arguments.
    const token = seal(ring, '{"secret":"x"}', sealPurposes.access_token.context({ tenantId: ids.tenantId, userId: ids.userId, credentialId: ids.callId }));
    expect(() => openCallArguments(ring, ids, token)).toThrow(/failed authentication/);
  });
});

describe('request hash (idempotency)', () => {
  it('canonical JSON ignores key order at every level, keeps array order', () => {
    expect(canonicalJson({ b: 1, a: { d: [2, 1], c: null } })).toBe(canonicalJson({ a: { c: null, d: [2, 1] }, b: 1 }));
    expect(canonicalJson({ a: [1, 2] })).not.toBe(canonicalJson({ a: [2, 1] }));
  });

  it('equal for the same (tool, arguments); different for another tool, argument or secret; keyed', () => {
    const k1 = generateKey();
    const ring = parseKeyring(`k1:${k1}`);
    const h = requestHash(ring, 'echo', { message: 'm', secret: 's' });
    expect(h).toMatch(/^h1\.k1\./);
    expect(requestHashMatches(ring, h, 'echo', { secret: 's', message: 'm' })).toBe(true);
    expect(requestHashMatches(ring, h, 'echo', { message: 'm', secret: 't' })).toBe(false);
    expect(requestHashMatches(ring, h, 'whoami', { message: 'm', secret: 's' })).toBe(false);
    // Another deployment's key gives another hash (no offline guessing without the keyring).
    expect(requestHash(parseKeyring(`k1:${generateKey()}`), 'echo', { message: 'm', secret: 's' })).not.toBe(h);
    // After rotation the old hash is still checked with the key that made it; unknown keys cannot tell.
    const rotated = parseKeyring(`k1:${k1},k2:${generateKey()}`, 'k2');
    expect(requestHashMatches(rotated, h, 'echo', { message: 'm', secret: 's' })).toBe(true);
    expect(requestHash(rotated, 'echo', { message: 'm', secret: 's' })).toMatch(/^h1\.k2\./);
    expect(requestHashMatches(parseKeyring(`k9:${generateKey()}`), h, 'echo', { message: 'm', secret: 's' })).toBeUndefined();
    expect(requestHashMatches(ring, 'garbage', 'echo', {})).toBeUndefined();
  });
});
