import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { defineTool } from '../tool.js';

/** Calendar's read-only scope: the tools only read, so they ask for no more. */
const CALENDAR_READONLY = 'https://www.googleapis.com/auth/calendar.readonly';

const DAY_MS = 24 * 60 * 60 * 1000;
/** Pages read at most per call: §3.1 says a page may hold fewer (or no) events while more remain. */
const MAX_PAGES = 10;

const rfc3339 = z.iso.datetime({ offset: true });

// docs/upstream-apis.md §3.1: events may carry "few fields" (free/busy readers, cancelled instances).
const time = z.looseObject({ dateTime: z.string().optional(), date: z.string().optional(), timeZone: z.string().optional() });
const eventAnswer = z.looseObject({
  id: z.string(),
  status: z.string().optional(),
  summary: z.string().optional(),
  location: z.string().optional(),
  htmlLink: z.string().optional(),
  start: time.optional(),
  end: time.optional(),
  recurringEventId: z.string().optional(),
  organizer: z.looseObject({ email: z.string().optional(), displayName: z.string().optional() }).optional(),
  attendees: z
    .array(
      z.looseObject({
        email: z.string().optional(),
        displayName: z.string().optional(),
        responseStatus: z.string().optional(),
        optional: z.boolean().optional(),
      }),
    )
    .optional(),
});
const eventsAnswer = z.looseObject({ timeZone: z.string().optional(), items: z.array(eventAnswer).default([]), nextPageToken: z.string().optional() });

const when = z.object({ dateTime: z.string().nullable(), date: z.string().nullable(), timeZone: z.string().nullable() });

/**
 * Events of one calendar in a window, recurring events expanded into their instances
 * (`singleEvents=true`), ordered by start; pages followed until `max_results` or the end.
 */
export const calendarRead = defineTool({
  name: 'calendar_read',
  title: 'Read my calendar',
  description:
    'Lists events of your Google Calendar (default: your primary calendar) between time_min and time_max (default: now to 7 days from now), recurring events expanded, ordered by start; optional free-text query. Each event has start and end with time zone, summary, location, attendees and status.',
  input: z
    .object({
      calendar_id: z.string().min(1).max(256).default('primary').describe('Calendar id, or "primary"'),
      time_min: rfc3339.optional().describe('Window start, RFC 3339 with offset (default: now)'),
      time_max: rfc3339.optional().describe('Window end, RFC 3339 with offset (default: time_min + 7 days)'),
      query: z.string().trim().max(300).optional().describe('Free text matched against summary, description, location, attendees'),
      max_results: z.number().int().min(1).max(250).default(50).describe('How many events at most (1–250)'),
    })
    .strict(),
  output: z.object({
    calendarId: z.string(),
    timeMin: z.string(),
    timeMax: z.string(),
    timeZone: z.string().nullable(),
    events: z.array(
      z.object({
        id: z.string(),
        status: z.string().nullable(),
        summary: z.string().nullable(),
        location: z.string().nullable(),
        start: when,
        end: when,
        recurringEventId: z.string().nullable(),
        organizer: z.string().nullable(),
        attendees: z.array(z.object({ email: z.string().nullable(), name: z.string().nullable(), response: z.string().nullable() })),
        link: z.string().nullable(),
      }),
    ),
    truncated: z.boolean().describe('More events are in the window than max_results'),
  }),
  mcpScope: 'tools:calendar_read',
  upstream: { provider: 'google', scopes: [CALENDAR_READONLY] },
  timeoutMs: 20_000,
  annotations: { readOnlyHint: true, openWorldHint: true, idempotentHint: false },
  maxResultBytes: 512 * 1024,
  text: (out) =>
    out.events.length === 0
      ? `No events in ${out.calendarId} between ${out.timeMin} and ${out.timeMax}.`
      : [
          `${out.events.length} event(s) in ${out.calendarId} between ${out.timeMin} and ${out.timeMax}${out.truncated ? ' (more exist: narrow the window or raise max_results)' : ''}:`,
          ...out.events.map(
            (e) =>
              `- ${e.start.dateTime ?? e.start.date ?? '?'} → ${e.end.dateTime ?? e.end.date ?? '?'}${e.start.timeZone ? ` (${e.start.timeZone})` : ''}: ${e.summary ?? '(no title)'}${e.location ? ` @ ${e.location}` : ''}${e.status && e.status !== 'confirmed' ? ` [${e.status}]` : ''}`,
          ),
        ].join('\n'),
  async run(ctx, args) {
    const min = args.time_min ?? new Date().toISOString();
    const max = args.time_max ?? new Date(Date.parse(min) + 7 * DAY_MS).toISOString();
    if (Date.parse(max) <= Date.parse(min))
      throw new AppError('validation', 'invalid_arguments', 'Invalid arguments for calendar_read: time_max must be after time_min', { expose: true });
    const events: z.output<typeof eventAnswer>[] = [];
    let timeZone: string | undefined;
    let pageToken: string | undefined;
    for (let page = 0; page < MAX_PAGES; page++) {
      const { data } = await ctx.upstream!.json(
        'calendar',
        {
          path: `/calendar/v3/calendars/${encodeURIComponent(args.calendar_id)}/events`,
          query: {
            timeMin: min,
            timeMax: max,
            q: args.query || undefined,
            singleEvents: true,
            orderBy: 'startTime',
            maxResults: args.max_results - events.length,
            pageToken,
          },
          notFound: `no calendar ${JSON.stringify(args.calendar_id)} in your calendar list`,
        },
        eventsAnswer,
      );
      timeZone ??= data.timeZone;
      events.push(...data.items.slice(0, args.max_results - events.length));
      pageToken = data.nextPageToken;
      if (!pageToken || events.length >= args.max_results) break;
    }
    const at = (t: z.output<typeof time> | undefined) => ({ dateTime: t?.dateTime ?? null, date: t?.date ?? null, timeZone: t?.timeZone ?? null });
    return {
      calendarId: args.calendar_id,
      timeMin: min,
      timeMax: max,
      timeZone: timeZone ?? null,
      events: events.map((e) => ({
        id: e.id,
        status: e.status ?? null,
        summary: e.summary ?? null,
        location: e.location ?? null,
        start: at(e.start),
        end: at(e.end),
        recurringEventId: e.recurringEventId ?? null,
        organizer: e.organizer?.email ?? null,
        attendees: (e.attendees ?? []).map((a) => ({ email: a.email ?? null, name: a.displayName ?? null, response: a.responseStatus ?? null })),
        link: e.htmlLink ?? null,
      })),
      truncated: pageToken !== undefined,
    };
  },
});
