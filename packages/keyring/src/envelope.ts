import { cryptoError } from './errors.js';

/** The parts of `v1.<kid>.<iv>.<ciphertext>.<tag>` (base64url, no padding). */
export interface Envelope {
  kid: string;
  iv: Buffer;
  ciphertext: Buffer;
  tag: Buffer;
}

const VERSION = 'v1';
export const IV_BYTES = 12;
export const TAG_BYTES = 16;
const KID = /^[A-Za-z0-9_-]{1,32}$/;

export function formatEnvelope(e: Envelope): string {
  return [VERSION, e.kid, e.iv.toString('base64url'), e.ciphertext.toString('base64url'), e.tag.toString('base64url')].join('.');
}

// Messages describe the defect only; the sealed string is never echoed.
const malformed = (why: string) => cryptoError('seal_malformed', `sealed value is malformed: ${why}`);

/**
 * Strict base64url: only canonical encodings are accepted, so one sealed value
 * has exactly one spelling (Buffer's decoder would skip junk characters).
 */
function decode(part: string, name: string): Buffer {
  const bytes = Buffer.from(part, 'base64url');
  if (bytes.toString('base64url') !== part) throw malformed(`${name} is not canonical base64url`);
  return bytes;
}

/** Parse the envelope without touching keys, so the kid can be read cheaply. */
export function parseEnvelope(sealed: string): Envelope {
  if (typeof sealed !== 'string') throw malformed('not a string');
  const parts = sealed.split('.');
  if (parts.length !== 5) throw malformed('expected 5 dot-separated parts');
  const [version, kid, iv, ciphertext, tag] = parts as [string, string, string, string, string];
  if (version !== VERSION) throw malformed('unsupported version');
  if (!KID.test(kid)) throw malformed('invalid key id');
  const envelope = { kid, iv: decode(iv, 'iv'), ciphertext: decode(ciphertext, 'ciphertext'), tag: decode(tag, 'tag') };
  if (envelope.iv.length !== IV_BYTES) throw malformed(`iv must be ${IV_BYTES} bytes`);
  if (envelope.tag.length !== TAG_BYTES) throw malformed(`tag must be ${TAG_BYTES} bytes`);
  return envelope;
}
