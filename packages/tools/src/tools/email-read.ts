import { z } from 'zod';
import { capUtf8, htmlToText } from '../html-text.js';
import { defineTool } from '../tool.js';
import { GMAIL_READONLY, gmailId, headerOf, internalDateIso, messageAnswer, type GmailPart } from './gmail-shapes.js';

/** Largest Gmail answer read for one message (format=full carries every text part, base64url). */
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024;

/**
 * One message: headers and a plain-text body (text/plain preferred; else HTML converted to text),
 * capped at `max_body_bytes`. Attachments are listed, never fetched.
 */
export const emailRead = defineTool({
  name: 'email_read',
  title: 'Read one email',
  description:
    'Reads one Gmail message by id (from email_search): its headers and its body as plain text (HTML converted to text), cut at max_body_bytes; attachments are listed by name and size, not downloaded.',
  input: z
    .object({
      id: gmailId,
      max_body_bytes: z.number().int().min(1_000).max(100_000).default(20_000).describe('Cap on the body text in bytes (1,000–100,000)'),
    })
    .strict(),
  output: z.object({
    id: z.string(),
    threadId: z.string().nullable(),
    from: z.string(),
    to: z.string(),
    cc: z.string(),
    subject: z.string(),
    date: z.string(),
    receivedAt: z.string().nullable(),
    labels: z.array(z.string()),
    body: z.string(),
    bodyFormat: z.enum(['text', 'html-as-text', 'none']),
    bodyTruncated: z.boolean(),
    attachments: z.array(z.object({ filename: z.string(), mimeType: z.string(), size: z.number() })),
  }),
  mcpScope: 'tools:email_read',
  upstream: { provider: 'google', scopes: [GMAIL_READONLY] },
  timeoutMs: 20_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: true },
  maxResultBytes: 128 * 1024,
  text: (m) =>
    [
      `From: ${m.from}`,
      `To: ${m.to}`,
      ...(m.cc ? [`Cc: ${m.cc}`] : []),
      `Date: ${m.date}`,
      `Subject: ${m.subject}`,
      ...(m.attachments.length ? [`Attachments: ${m.attachments.map((a) => `${a.filename} (${a.size} bytes)`).join(', ')}`] : []),
      '',
      m.body || '(no text body)',
      ...(m.bodyTruncated ? ['', '[body cut at max_body_bytes]'] : []),
    ].join('\n'),
  async run(ctx, args) {
    const { data: m } = await ctx.upstream!.json(
      'gmail',
      {
        path: `/gmail/v1/users/me/messages/${encodeURIComponent(args.id)}`,
        query: { format: 'full' },
        notFound: `no message with id ${args.id} in your mailbox`,
        maxBodyBytes: MAX_MESSAGE_BYTES,
      },
      messageAnswer,
    );
    const parts = flatten(m.payload);
    const isBody = (p: GmailPart, type: string) => p.mimeType?.toLowerCase() === type && !p.filename && p.body?.data !== undefined;
    const plain = parts.filter((p) => isBody(p, 'text/plain'));
    const html = parts.filter((p) => isBody(p, 'text/html'));
    const [format, raw] =
      plain.length > 0
        ? (['text', plain.map((p) => decode(p.body!.data!)).join('\n\n')] as const)
        : html.length > 0
          ? (['html-as-text', htmlToText(html.map((p) => decode(p.body!.data!)).join('\n'))] as const)
          : (['none', ''] as const);
    const body = capUtf8(raw, args.max_body_bytes);
    return {
      id: m.id,
      threadId: m.threadId ?? null,
      from: headerOf(m.payload, 'From'),
      to: headerOf(m.payload, 'To'),
      cc: headerOf(m.payload, 'Cc'),
      subject: headerOf(m.payload, 'Subject'),
      date: headerOf(m.payload, 'Date'),
      receivedAt: internalDateIso(m.internalDate),
      labels: m.labelIds ?? [],
      body: body.text,
      bodyFormat: format,
      bodyTruncated: body.truncated,
      attachments: parts
        .filter((p) => p.filename)
        .map((p) => ({ filename: p.filename!, mimeType: p.mimeType ?? 'application/octet-stream', size: p.body?.size ?? 0 })),
    };
  },
});

/** Every part of the MIME tree, depth first (bounded: a hostile tree cannot recurse without end). */
function flatten(root: GmailPart | undefined): GmailPart[] {
  const out: GmailPart[] = [];
  const walk = (p: GmailPart | undefined, depth: number) => {
    if (!p || depth > 20 || out.length > 500) return;
    out.push(p);
    for (const c of p.parts ?? []) walk(c, depth + 1);
  };
  walk(root, 0);
  return out;
}

const decode = (data: string) => Buffer.from(data, 'base64url').toString('utf8');
