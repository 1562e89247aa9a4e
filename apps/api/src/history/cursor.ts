import { appError } from '@mcprt/errors';
import { z } from 'zod';
import { callIdSchema } from '@mcprt/calls';

/**
 * Opaque page cursors: base64url JSON of the keyset position of the last row shown. Opaque so clients
 * do not build them; not secret (every query is still scoped to the tenant and, for end users, to the
 * user), so a forged cursor only moves the caller within rows it may see anyway.
 *
 * A cursor is accepted only if it is exactly what the endpoint could have returned: it decodes to a
 * position of that endpoint's kind whose every value the query can take (a real UTC instant, a call id,
 * a bigint-safe row id), and it re-encodes to the very same string. Anything else — bad base64 or
 * JSON, another shape or kind, `2026-13-45`, a huge number, another format of id — is a 400
 * `invalid_cursor` before any query runs (a value Postgres refuses would otherwise be a 500 and an
 * error-level log line on demand).
 */

/** A UTC instant with microseconds, as the history query writes it (`to_char(… 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')`). */
const POSITION_TIME = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})\.\d{6}Z$/;

/** Whether `s` names a real instant (no month 13, 30 February, hour 24, second 60 or year 0). */
function isPositionTime(s: string): boolean {
  const m = POSITION_TIME.exec(s);
  if (!m) return false;
  const [y, mo, d, h, mi, se] = m.slice(1, 7).map(Number) as [number, number, number, number, number, number];
  const t = new Date(0);
  t.setUTCFullYear(y, mo - 1, d);
  t.setUTCHours(h, mi, se, 0);
  return (
    y >= 1 &&
    t.getUTCFullYear() === y &&
    t.getUTCMonth() === mo - 1 &&
    t.getUTCDate() === d &&
    t.getUTCHours() === h &&
    t.getUTCMinutes() === mi &&
    t.getUTCSeconds() === se
  );
}

const callPosition = z.strictObject({
  k: z.literal('c'),
  t: z.string().refine(isPositionTime),
  i: callIdSchema,
});
const auditPosition = z.strictObject({ k: z.literal('a'), i: z.number().int().positive().max(Number.MAX_SAFE_INTEGER) });

export type CallPosition = z.infer<typeof callPosition>;

const encode = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

/** The refusal of every cursor the endpoint did not return (same code and text whatever was wrong with it). */
export const invalidCursor = (why = 'not a cursor this endpoint returned') => appError('invalid_cursor', `cursor: ${why}`);

function decode<T extends z.ZodType>(schema: T, cursor: string, reencode: (p: z.output<T>) => string): z.output<T> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    throw invalidCursor();
  }
  const r = schema.safeParse(json);
  // Exactly the string the endpoint would have returned for that position, nothing merely similar.
  if (!r.success || reencode(r.data) !== cursor) throw invalidCursor();
  return r.data;
}

export const encodeCallCursor = (createdKey: string, id: string): string => encode({ k: 'c', t: createdKey, i: id });
export const decodeCallCursor = (c: string): { createdKey: string; id: string } => {
  const p = decode(callPosition, c, (x) => encodeCallCursor(x.t, x.i));
  return { createdKey: p.t, id: p.i };
};
export const encodeAuditCursor = (id: number): string => encode({ k: 'a', i: id });
export const decodeAuditCursor = (c: string): number => decode(auditPosition, c, (x) => encodeAuditCursor(x.i)).i;
