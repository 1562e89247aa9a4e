import { AppError } from '@mcprt/errors';
import { z } from 'zod';

/**
 * Opaque page cursors: base64url JSON of the keyset position of the last row shown. Opaque so clients
 * do not build them; not secret (every query is still scoped to the tenant and, for end users, to the
 * user), so a forged cursor only moves the caller within rows it may see anyway.
 */
const callPosition = z.strictObject({ k: z.literal('c'), t: z.string().regex(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$/), i: z.string().max(64) });
const auditPosition = z.strictObject({ k: z.literal('a'), i: z.number().int().positive() });

export type CallPosition = z.infer<typeof callPosition>;

const encode = (v: unknown) => Buffer.from(JSON.stringify(v), 'utf8').toString('base64url');

function decode<T extends z.ZodType>(schema: T, cursor: string): z.output<T> {
  try {
    const r = schema.safeParse(JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8')));
    if (r.success) return r.data;
  } catch {
    // fall through
  }
  throw new AppError('validation', 'invalid_query', 'cursor: not a cursor this endpoint returned');
}

export const encodeCallCursor = (createdKey: string, id: string): string => encode({ k: 'c', t: createdKey, i: id });
export const decodeCallCursor = (c: string): { createdKey: string; id: string } => {
  const p = decode(callPosition, c);
  return { createdKey: p.t, id: p.i };
};
export const encodeAuditCursor = (id: number): string => encode({ k: 'a', i: id });
export const decodeAuditCursor = (c: string): number => decode(auditPosition, c).i;
