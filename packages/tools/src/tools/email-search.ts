import { isAppError } from '@mcprt/errors';
import { z } from 'zod';
import { defineTool } from '../tool.js';
import { mapBounded } from '../upstream.js';
import { GMAIL_READONLY, headerOf, internalDateIso, listAnswer, messageAnswer } from './gmail-shapes.js';

/** Metadata fetches at once per call (Gmail counts per-user concurrent requests, docs/upstream-apis.md §2.3). */
const CONCURRENCY = 5;

const hit = z.object({
  id: z.string(),
  threadId: z.string().nullable(),
  from: z.string(),
  to: z.string(),
  subject: z.string(),
  date: z.string().describe('The Date header as sent'),
  receivedAt: z.string().nullable().describe('When Gmail received it (RFC 3339), if Gmail says'),
  snippet: z.string(),
  labels: z.array(z.string()),
});

/**
 * Gmail `users.messages.list` with the user's query, then each hit's metadata (no bodies), fetched
 * with bounded concurrency; stops when the call's deadline or abort fires.
 */
export const emailSearch = defineTool({
  name: 'email_search',
  title: 'Search my email',
  description:
    'Searches your Gmail with Gmail search syntax (e.g. `from:anna subject:invoice newer_than:7d`) and returns the matching messages newest first: from, to, subject, date, snippet and labels — no bodies (use email_read for one message).',
  input: z
    .object({
      query: z.string().trim().max(500).default('').describe('Gmail search query; empty lists the newest messages'),
      max_results: z.number().int().min(1).max(50).default(10).describe('How many messages (1–50)'),
      page_token: z.string().max(200).optional().describe('nextPageToken of an earlier answer, for the next page'),
    })
    .strict(),
  output: z.object({
    query: z.string(),
    messages: z.array(hit),
    nextPageToken: z.string().nullable(),
    resultSizeEstimate: z.number().nullable(),
  }),
  mcpScope: 'tools:email_search',
  upstream: { provider: 'google', scopes: [GMAIL_READONLY] },
  timeoutMs: 20_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: true },
  maxResultBytes: 256 * 1024,
  text: (out) =>
    out.messages.length === 0
      ? `No messages match ${JSON.stringify(out.query)}.`
      : [
          `${out.messages.length} message(s) for ${JSON.stringify(out.query)}${out.nextPageToken ? ' (more: pass page_token)' : ''}:`,
          ...out.messages.map((m) => `- [${m.id}] ${m.date} — ${m.from} — ${m.subject}\n  ${m.snippet}`),
        ].join('\n'),
  async run(ctx, args) {
    const gmail = ctx.upstream!;
    const list = await gmail.json(
      'gmail',
      {
        path: '/gmail/v1/users/me/messages',
        query: { q: args.query || undefined, maxResults: args.max_results, pageToken: args.page_token },
        notFound: 'the mailbox was not found',
      },
      listAnswer,
    );
    const ids = (list.data.messages ?? []).slice(0, args.max_results);
    const metas = await mapBounded(ids, CONCURRENCY, ctx.signal, async ({ id }) => {
      try {
        return (
          await gmail.json(
            'gmail',
            {
              path: `/gmail/v1/users/me/messages/${encodeURIComponent(id)}`,
              query: { format: 'metadata', metadataHeaders: ['From', 'To', 'Subject', 'Date'] },
              notFound: `message ${id} was not found`,
            },
            messageAnswer,
          )
        ).data;
      } catch (e) {
        // Deleted between the list and the fetch: left out, not the whole search's failure.
        if (isAppError(e) && e.code === 'upstream_not_found') return undefined;
        throw e;
      }
    });
    return {
      query: args.query,
      messages: metas
        .filter((m) => m !== undefined)
        .map((m) => ({
          id: m.id,
          threadId: m.threadId ?? null,
          from: headerOf(m.payload, 'From'),
          to: headerOf(m.payload, 'To'),
          subject: headerOf(m.payload, 'Subject'),
          date: headerOf(m.payload, 'Date'),
          receivedAt: internalDateIso(m.internalDate),
          snippet: m.snippet ?? '',
          labels: m.labelIds ?? [],
        })),
      nextPageToken: list.data.nextPageToken ?? null,
      resultSizeEstimate: list.data.resultSizeEstimate ?? null,
    };
  },
});
