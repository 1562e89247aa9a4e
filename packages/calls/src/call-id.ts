import { randomFillSync } from 'node:crypto';
import { z } from 'zod';

/**
 * The call id, defined here only: `call_` + 128 random bits (base64url, 22 characters). Unguessable,
 * so an id can be shown to the user, polled and used as a task id and a job id. Everything that
 * checks an id's shape (REST parameters, history cursors, job payloads, the cancel channel, the
 * worker) uses `CALL_ID_PATTERN`, `isCallId`, `parseCallId` or `callIdSchema` from this module; a test
 * (call-id.test.ts) fails if another copy of the pattern appears in production code.
 */
export type CallId = string & { readonly __brand: 'CallId' };

export const CALL_ID_PREFIX = 'call_';

/** The shape `newCallId` makes; anything else is never looked up. */
export const CALL_ID_PATTERN = /^call_[A-Za-z0-9_-]{22}$/;

/** Random bytes are drawn 4 KiB at a time (one call into the CSPRNG per 256 ids, not one per id). */
const pool = Buffer.alloc(4096);
let offset = pool.length;

export function newCallId(): CallId {
  if (offset + 16 > pool.length) {
    randomFillSync(pool);
    offset = 0;
  }
  const id = pool.toString('base64url', offset, offset + 16);
  offset += 16;
  return `${CALL_ID_PREFIX}${id}` as CallId;
}

export const isCallId = (id: unknown): id is CallId => typeof id === 'string' && CALL_ID_PATTERN.test(id);

/** The id as a CallId, or undefined for anything that is not one (answered like a missing call). */
export const parseCallId = (id: unknown): CallId | undefined => (isCallId(id) ? id : undefined);

/**
 * The zod form, for every boundary schema (REST parameters, cursors, job payloads, cancel messages).
 * A plain string schema (no transform), so OpenAPI documents show it as a pattern.
 */
export const callIdSchema = z.string().regex(CALL_ID_PATTERN, 'not a call id');
