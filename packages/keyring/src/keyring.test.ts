import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { AppError } from '@mcprt/errors';
import { formatKeyring, generateKey, Keyring, parseKeyring, parseKeyringEntries } from './keyring.js';

const keyA = generateKey();
const keyB = generateKey();
const shortKey = Buffer.alloc(16, 7).toString('base64url');

/** Run fn, expect a keyring_invalid AppError, return its message. */
function failure(fn: () => unknown): string {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(AppError);
    expect((e as AppError).code).toBe('keyring_invalid');
    expect((e as AppError).expose).toBe(false);
    return (e as AppError).message;
  }
  throw new Error('expected a keyring_invalid error');
}

describe('generateKey', () => {
  it('makes distinct base64url 32-byte keys', () => {
    expect(Buffer.from(keyA, 'base64url')).toHaveLength(32);
    expect(keyA).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(keyA).not.toBe(keyB);
  });
});

describe('parseKeyring', () => {
  it('takes the last key as active by default', () => {
    const ring = parseKeyring(`k2026a:${keyA}, k2026b:${keyB}`);
    expect(ring.activeKid).toBe('k2026b');
    expect(ring.kids).toEqual(['k2026a', 'k2026b']);
    expect(ring.has('k2026a')).toBe(true);
    expect(ring.has('nope')).toBe(false);
  });

  it('honours an explicit active kid', () => {
    expect(parseKeyring(`k2026a:${keyA},k2026b:${keyB}`, 'k2026a').activeKid).toBe('k2026a');
  });

  it('rejects a bad kid without printing the key', () => {
    const msg = failure(() => parseKeyring(`bad kid!:${keyA}`));
    expect(msg).toMatch(/entry 1: key id must be/);
    expect(msg).not.toContain(keyA);
  });

  it('rejects a short key, naming the kid and size, not the key', () => {
    const msg = failure(() => parseKeyring(`k1:${keyA},k2:${shortKey}`));
    expect(msg).toContain('entry 2 (k2)');
    expect(msg).toContain('exactly 32 bytes, got 16');
    expect(msg).not.toContain(shortKey);
    expect(msg).not.toContain(keyA);
  });

  it('rejects non-base64url key text', () => {
    const bad = `${keyA.slice(0, 42)}+`;
    const msg = failure(() => parseKeyring(`k1:${bad}`));
    expect(msg).toContain('base64url');
    expect(msg).not.toContain(bad);
  });

  it('rejects a missing active kid', () => {
    const msg = failure(() => parseKeyring(`k1:${keyA}`, 'k9'));
    expect(msg).toContain('active key id "k9" is not in the keyring');
    expect(msg).not.toContain(keyA);
  });

  it('does not echo an active kid that looks like a key', () => {
    const msg = failure(() => parseKeyring(`k1:${keyA}`, keyB));
    expect(msg).not.toContain(keyB);
  });

  it('rejects entries without a colon, empty specs and duplicate kids', () => {
    expect(failure(() => parseKeyring(keyA))).not.toContain(keyA);
    expect(failure(() => parseKeyring(keyA))).toContain('kid:key');
    expect(failure(() => parseKeyring(' , '))).toContain('no keys');
    expect(failure(() => parseKeyring(`k1:${keyA},k1:${keyB}`))).toContain('duplicate key id "k1"');
  });
});

describe('formatKeyring', () => {
  it('round-trips with an appended key', () => {
    const spec = `k1:${keyA}`;
    const next = formatKeyring([...parseKeyringEntries(spec), { kid: 'k2', key: keyB }]);
    expect(next).toBe(`k1:${keyA},k2:${keyB}`);
    expect(parseKeyring(next).activeKid).toBe('k2');
  });

  it('refuses to format an invalid entry', () => {
    expect(failure(() => formatKeyring([{ kid: 'k1', key: shortKey }]))).toContain('32 bytes');
  });
});

describe('Keyring printing', () => {
  const ring = parseKeyring(`k1:${keyA},k2:${keyB}`);
  const secrets = [keyA, keyB, Buffer.from(keyA, 'base64url').toString('hex'), Buffer.from(keyA, 'base64url').toString('base64')];

  it.each([
    ['JSON', () => JSON.stringify(ring)],
    ['inspect', () => inspect(ring, { showHidden: true, depth: 10 })],
    ['toString', () => String(ring)],
    ['template', () => `${ring}`],
  ])('%s shows kids only', (_name, show) => {
    const text = show();
    expect(text).toContain('k1');
    expect(text).toContain('k2');
    for (const s of secrets) expect(text).not.toContain(s);
  });

  it('JSON is exactly the kids', () => {
    expect(JSON.parse(JSON.stringify(ring))).toEqual({ activeKid: 'k2', kids: ['k1', 'k2'] });
  });

  it('exposes no enumerable key fields', () => {
    expect(Object.keys(ring)).toEqual(['activeKid']);
  });

  it('is constructible from entries', () => {
    expect(new Keyring([{ kid: 'x', key: keyA }]).activeKid).toBe('x');
  });
});
