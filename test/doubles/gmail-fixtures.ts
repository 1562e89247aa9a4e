/**
 * Gmail fixtures: builds Message resources in the shape of docs/upstream-apis.md §2.2 — `payload` as a
 * MessagePart tree (`partId`, `mimeType`, `filename`, `headers[]`, `body{size, data?, attachmentId?}`,
 * `parts[]`), bodies as base64url, `historyId` and `internalDate` as int64-as-string.
 */
import { createHash } from 'node:crypto';

export interface GmailHeader {
  name: string;
  value: string;
}

export interface GmailMessagePartBody {
  size: number;
  data?: string;
  attachmentId?: string;
}

export interface GmailMessagePart {
  partId: string;
  mimeType: string;
  filename: string;
  headers: GmailHeader[];
  body: GmailMessagePartBody;
  parts?: GmailMessagePart[];
}

export interface GmailMessage {
  id: string;
  threadId: string;
  labelIds: string[];
  snippet: string;
  historyId: string;
  internalDate: string;
  sizeEstimate: number;
  payload: GmailMessagePart;
}

export interface GmailAttachmentSpec {
  filename: string;
  mimeType: string;
  /** Attachment size in bytes; the double never serves the bytes (§2.2: `attachmentId`, no `data`). */
  size: number;
}

export interface GmailMessageSpec {
  id?: string;
  threadId?: string;
  from: string;
  to: string;
  cc?: string;
  subject: string;
  /** When Google accepted it (`internalDate`); also written as the `Date` header. */
  date: Date;
  /** Default `['INBOX']`. */
  labelIds?: string[];
  /** The text/plain part. */
  text?: string;
  /** A text/html part; with `text` too, both go into multipart/alternative. */
  html?: string;
  attachments?: GmailAttachmentSpec[];
  /** More headers, e.g. `Reply-To`. */
  headers?: GmailHeader[];
}

/** Each user's mailbox: messages in any order (lists sort them newest first by `internalDate`). */
export interface GmailMailbox {
  email: string;
  messages: GmailMessage[];
}

let counter = 0;

/** A Message resource from a readable spec. Ids are 16 hex digits like Gmail's; pass `id` to pin one. */
export function gmailMessage(spec: GmailMessageSpec): GmailMessage {
  counter += 1;
  const id = spec.id ?? createHash('sha256').update(`${counter}:${spec.subject}:${spec.date.toISOString()}`).digest('hex').slice(0, 16);
  const headers: GmailHeader[] = [
    { name: 'From', value: spec.from },
    { name: 'To', value: spec.to },
    ...(spec.cc ? [{ name: 'Cc', value: spec.cc }] : []),
    { name: 'Subject', value: spec.subject },
    { name: 'Date', value: spec.date.toUTCString().replace('GMT', '+0000') },
    { name: 'Message-ID', value: `<${id}@mail.example.test>` },
    { name: 'MIME-Version', value: '1.0' },
    ...(spec.headers ?? []),
  ];
  const payload = buildPayload(spec, headers, id);
  const snippetSource = spec.text ?? htmlToText(spec.html ?? '');
  return {
    id,
    threadId: spec.threadId ?? id,
    labelIds: spec.labelIds ?? ['INBOX'],
    snippet: snippetSource.replace(/\s+/g, ' ').trim().slice(0, 200),
    historyId: String(1000 + counter),
    internalDate: String(spec.date.getTime()),
    sizeEstimate: partSize(payload) + headers.reduce((n, h) => n + h.name.length + h.value.length + 4, 0),
    payload,
  };
}

function buildPayload(spec: GmailMessageSpec, headers: GmailHeader[], id: string): GmailMessagePart {
  const leaves: Array<Omit<GmailMessagePart, 'partId'>> = [];
  if (spec.text !== undefined || spec.html === undefined) leaves.push(textPart('text/plain', spec.text ?? ''));
  if (spec.html !== undefined) leaves.push(textPart('text/html', spec.html));
  const body: Omit<GmailMessagePart, 'partId'> = leaves.length === 1 ? leaves[0]! : multipart('multipart/alternative', leaves);
  const attachments = (spec.attachments ?? []).map((a, i) => attachmentPart(a, `${id}-att${i}`));
  const root = attachments.length === 0 ? body : multipart('multipart/mixed', [body, ...attachments]);
  // The top-level part carries the message headers (§2.2 `payload.headers`) and partId "".
  return numberParts({ ...root, headers: [...headers, ...root.headers] }, '');
}

function textPart(mimeType: string, text: string): Omit<GmailMessagePart, 'partId'> {
  const bytes = Buffer.from(text, 'utf8');
  return {
    mimeType,
    filename: '',
    headers: [
      { name: 'Content-Type', value: `${mimeType}; charset="UTF-8"` },
      { name: 'Content-Transfer-Encoding', value: 'quoted-printable' },
    ],
    body: { size: bytes.length, data: bytes.toString('base64url') },
  };
}

function attachmentPart(a: GmailAttachmentSpec, attachmentId: string): Omit<GmailMessagePart, 'partId'> {
  return {
    mimeType: a.mimeType,
    filename: a.filename,
    headers: [
      { name: 'Content-Type', value: `${a.mimeType}; name="${a.filename}"` },
      { name: 'Content-Disposition', value: `attachment; filename="${a.filename}"` },
      { name: 'Content-Transfer-Encoding', value: 'base64' },
    ],
    body: { size: a.size, attachmentId },
  };
}

function multipart(mimeType: string, parts: Array<Omit<GmailMessagePart, 'partId'>>): Omit<GmailMessagePart, 'partId'> {
  return {
    mimeType,
    filename: '',
    headers: [{ name: 'Content-Type', value: `${mimeType}; boundary="b-${mimeType.slice(10)}"` }],
    body: { size: 0 },
    parts: parts as GmailMessagePart[],
  };
}

/** Gmail numbers parts "0", "1", "0.0" … below the root, whose partId is "". */
function numberParts(part: Omit<GmailMessagePart, 'partId'>, partId: string): GmailMessagePart {
  const out: GmailMessagePart = { partId, ...part };
  if (part.parts) out.parts = part.parts.map((p, i) => numberParts(p, partId === '' ? String(i) : `${partId}.${i}`));
  return out;
}

function partSize(part: GmailMessagePart): number {
  return part.body.size + (part.parts ?? []).reduce((n, p) => n + partSize(p), 0);
}

function htmlToText(html: string): string {
  return html.replace(/<[^>]*>/g, ' ');
}

/** All text of a message (headers and text parts) for free-text search. */
export function searchableText(message: GmailMessage): string {
  const parts: string[] = message.payload.headers.map((h) => h.value);
  const walk = (part: GmailMessagePart): void => {
    if (part.body.data && part.mimeType.startsWith('text/')) parts.push(Buffer.from(part.body.data, 'base64url').toString('utf8'));
    for (const p of part.parts ?? []) walk(p);
  };
  walk(message.payload);
  return parts.join('\n').toLowerCase();
}

export function headerValue(message: GmailMessage, name: string): string {
  return message.payload.headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value ?? '';
}

export function hasAttachment(message: GmailMessage): boolean {
  const walk = (part: GmailMessagePart): boolean => part.filename !== '' || (part.parts ?? []).some(walk);
  return walk(message.payload);
}
