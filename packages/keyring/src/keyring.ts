import { createSecretKey, randomBytes, type KeyObject } from 'node:crypto';
import { z } from 'zod';
import { cryptoError } from './errors.js';

/** One key as it appears in config: an id and base64url of 32 bytes. */
export interface KeyEntry {
  kid: string;
  key: string;
}

// The kid is printed in errors and embedded in sealed strings, so it must be
// short and free of the `.` separator.
const KID = /^[A-Za-z0-9_-]{1,32}$/;
const KEY_BYTES = 32;
const BASE64URL = /^[A-Za-z0-9_-]*$/;

const entrySchema = z.object({
  kid: z.string().regex(KID, { message: 'key id must be 1-32 characters of A-Z a-z 0-9 _ -' }),
  key: z.string().transform((value, ctx) => {
    // Buffer's decoder silently skips bad characters; check the alphabet first
    // so a typo is reported rather than turned into a different key.
    if (!BASE64URL.test(value)) {
      ctx.addIssue({ code: 'custom', message: 'key must be base64url (A-Z a-z 0-9 _ -, no padding)' });
      return z.NEVER;
    }
    const bytes = Buffer.from(value, 'base64url');
    if (bytes.length !== KEY_BYTES) {
      ctx.addIssue({ code: 'custom', message: `key must decode to exactly ${KEY_BYTES} bytes, got ${bytes.length}` });
      return z.NEVER;
    }
    return bytes;
  }),
});

const entriesSchema = z
  .array(entrySchema)
  .min(1, { message: 'keyring has no keys' })
  .superRefine((entries, ctx) => {
    const seen = new Set<string>();
    entries.forEach((e, i) => {
      if (seen.has(e.kid)) ctx.addIssue({ code: 'custom', path: [i, 'kid'], message: `duplicate key id "${e.kid}"` });
      seen.add(e.kid);
    });
  });

/**
 * Validate entries, reporting each problem by position (and kid when that is
 * well-formed). Only zod's messages are used: they are ours and never echo input.
 */
function validate(entries: readonly KeyEntry[]): { kid: string; bytes: Buffer }[] {
  const result = entriesSchema.safeParse(entries);
  if (result.success) return result.data.map((e) => ({ kid: e.kid, bytes: e.key }));
  const problems = result.error.issues.map((issue) => {
    const index = issue.path[0];
    if (typeof index !== 'number') return issue.message;
    const kid = entries[index]?.kid;
    const label = kid !== undefined && KID.test(kid) ? `entry ${index + 1} (${kid})` : `entry ${index + 1}`;
    return `${label}: ${issue.message}`;
  });
  throw cryptoError('keyring_invalid', `invalid keyring: ${problems.join('; ')}`);
}

/**
 * Named AES-256 keys plus the one new seals use. Old keys stay so values sealed
 * before a rotation still open. Key bytes live only inside KeyObjects held in
 * a private field, and every printable view lists kids only.
 */
export class Keyring {
  readonly #keys: ReadonlyMap<string, KeyObject>;
  readonly activeKid: string;

  constructor(entries: readonly KeyEntry[], activeKid?: string) {
    const valid = validate(entries);
    const keys = new Map<string, KeyObject>();
    for (const { kid, bytes } of valid) {
      keys.set(kid, createSecretKey(bytes));
      // createSecretKey copies; wipe our decoded copy so fewer heap copies linger.
      bytes.fill(0);
    }
    // Default to the last key so rotation is "append a key, restart".
    const active = activeKid ?? valid[valid.length - 1]!.kid;
    if (!keys.has(active)) {
      const shown = KID.test(active) ? `"${active}"` : '(not a valid key id)';
      throw cryptoError('keyring_invalid', `invalid keyring: active key id ${shown} is not in the keyring`);
    }
    this.#keys = keys;
    this.activeKid = active;
  }

  has(kid: string): boolean {
    return this.#keys.has(kid);
  }

  /** Key ids in config order. */
  get kids(): string[] {
    return [...this.#keys.keys()];
  }

  /** For seal/open only. Undefined when the kid is not in the keyring. */
  keyFor(kid: string): KeyObject | undefined {
    return this.#keys.get(kid);
  }

  toJSON(): { activeKid: string; kids: string[] } {
    return { activeKid: this.activeKid, kids: this.kids };
  }

  toString(): string {
    return `Keyring(active=${this.activeKid}, kids=[${this.kids.join(', ')}])`;
  }

  [Symbol.for('nodejs.util.inspect.custom')](): string {
    return this.toString();
  }
}

/**
 * Split `kid:key,kid:key` into entries. Whitespace around entries is tolerated
 * (env files wrap); the raw text of a bad entry is never echoed, since it may
 * hold a key.
 */
export function parseKeyringEntries(spec: string): KeyEntry[] {
  const parts = spec
    .split(',')
    .map((p) => p.trim())
    .filter((p) => p !== '');
  const entries = parts.map((part, i) => {
    const colon = part.indexOf(':');
    if (colon < 0) throw cryptoError('keyring_invalid', `invalid keyring: entry ${i + 1} is not of the form kid:key`);
    return { kid: part.slice(0, colon), key: part.slice(colon + 1) };
  });
  validate(entries);
  return entries;
}

/** Parse a keyring config string. Active is `activeKid` if given, else the last key. */
export function parseKeyring(spec: string, activeKid?: string): Keyring {
  return new Keyring(parseKeyringEntries(spec), activeKid);
}

/** A fresh key for the keyring: base64url of 32 random bytes. */
export function generateKey(): string {
  return randomBytes(KEY_BYTES).toString('base64url');
}

/** Inverse of parseKeyringEntries, validated, so an operator can append a key and write the spec back. */
export function formatKeyring(keys: readonly KeyEntry[]): string {
  validate(keys);
  return keys.map((k) => `${k.kid}:${k.key}`).join(',');
}
