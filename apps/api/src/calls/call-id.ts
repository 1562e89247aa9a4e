import { randomFillSync } from 'node:crypto';

/** Random bytes are drawn 4 KiB at a time (one call into the CSPRNG per 256 ids, not one per id). */
const pool = Buffer.alloc(4096);
let offset = pool.length;

/** `call_` + 128 random bits (base64url, 22 chars): unguessable, so ids can be shown and polled. */
export function newCallId(): string {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + 16);
  offset += 16;
  return `call_${id}`;
}

/** The shape `newCallId` makes; anything else is never looked up. */
export const CALL_ID = /^call_[A-Za-z0-9_-]{22}$/;

export const isCallId = (id: string): boolean => CALL_ID.test(id);
