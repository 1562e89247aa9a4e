import { z } from 'zod';

/** Gmail's read-only scope (the tools only read): lists, metadata and bodies. */
export const GMAIL_READONLY = 'https://www.googleapis.com/auth/gmail.readonly';

/** Message ids as Gmail writes them (hex today); anything else never reaches the URL. */
export const gmailId = z
  .string()
  .regex(/^[A-Za-z0-9_-]{1,64}$/, 'a Gmail message id (letters, digits, - and _)')
  .describe('A message id from email_search');

// docs/upstream-apis.md §2.1 / §2.2: only the fields the tools read; optional ones treated as optional.
export const listAnswer = z.looseObject({
  messages: z.array(z.looseObject({ id: z.string(), threadId: z.string().optional() })).optional(),
  nextPageToken: z.string().optional(),
  resultSizeEstimate: z.number().optional(),
});

const header = z.looseObject({ name: z.string(), value: z.string() });

export interface GmailPart {
  partId?: string | undefined;
  mimeType?: string | undefined;
  filename?: string | undefined;
  headers?: { name: string; value: string }[] | undefined;
  body?: { size?: number | undefined; data?: string | undefined; attachmentId?: string | undefined } | undefined;
  parts?: GmailPart[] | undefined;
}

const part: z.ZodType<GmailPart> = z.lazy(() =>
  z.looseObject({
    partId: z.string().optional(),
    mimeType: z.string().optional(),
    filename: z.string().optional(),
    headers: z.array(header).optional(),
    body: z.looseObject({ size: z.number().optional(), data: z.string().optional(), attachmentId: z.string().optional() }).optional(),
    parts: z.array(part).optional(),
  }),
);

export const messageAnswer = z.looseObject({
  id: z.string(),
  threadId: z.string().optional(),
  labelIds: z.array(z.string()).optional(),
  snippet: z.string().optional(),
  internalDate: z.string().optional(),
  payload: part.optional(),
});

/** A header's value (case-insensitive name), '' if absent. */
export const headerOf = (p: GmailPart | undefined, name: string): string => p?.headers?.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value ?? '';

/** RFC 3339 of Gmail's internalDate (ms since the epoch, as a string); null if absent or unreadable. */
export function internalDateIso(v: string | undefined): string | null {
  const n = Number(v);
  return v && Number.isFinite(n) ? new Date(n).toISOString() : null;
}
