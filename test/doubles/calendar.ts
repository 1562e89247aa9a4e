/**
 * A local stand-in for the Google Calendar API v3 (www.googleapis.com/calendar/v3), on node:http with
 * no deps. Shapes follow docs/upstream-apis.md §3:
 *   - `GET /calendar/v3/calendars/{calendarId}/events` — events.list (§3.1): `timeMin`/`timeMax`
 *     (RFC 3339 with a mandatory offset; timeMin < timeMax else 400 `timeRangeEmpty`), `q`,
 *     `singleEvents` (recurring series expanded into instances), `orderBy=startTime|updated`
 *     (startTime requires singleEvents=true), `maxResults` (default 250, max 2500), `pageToken`,
 *     `timeZone` (echoed in the response's `timeZone`; event times keep the zone they were written in).
 *     `nextSyncToken` on the last page; `syncToken` itself is not served (400).
 *   - `GET /calendar/v3/users/me/calendarList` — calendarList.list (§3.2): `maxResults` (default 100,
 *     max 250), `pageToken`, `minAccessRole`, `showHidden` (hidden entries left out by default).
 * Errors are the Google JSON error format (§2.4, §3.3). Scopes per method as §3.1/§3.2 list them, so
 * a token with only calendar.events.readonly can read events but gets 403 on calendarList.
 * With `freeBusyReader` access, events carry only id, status, start and end (§3.1: such events "can
 * lack summary and other fields"; which ones is not listed, so the double keeps the minimum).
 */
import { createHash } from 'node:crypto';

import type { CalendarAccount, CalendarEvent, CalendarFixture } from './calendar-fixtures.js';
import { eventsInWindow, matchesText } from './calendar-events.js';
import type { Placed, Window } from './calendar-events.js';
import { parseRfc3339 } from './calendar-time.js';
import type { DoubleControls, DoubleRequestRecord, Reply } from './http-double.js';
import { decodePageToken, encodePageToken, ReplyError, startHttpDouble } from './http-double.js';
import type { GoogleFailure } from './google-errors.js';
import { badRequest, googleError, googleFailureReply, intParam, notFound, pathSegment, requireScope } from './google-errors.js';
const AUTH = 'https://www.googleapis.com/auth/';
export const CALENDAR_SCOPES = {
  calendar: `${AUTH}calendar`,
  readonly: `${AUTH}calendar.readonly`,
  events: `${AUTH}calendar.events`,
  eventsReadonly: `${AUTH}calendar.events.readonly`,
  calendarList: `${AUTH}calendar.calendarlist`,
  calendarListReadonly: `${AUTH}calendar.calendarlist.readonly`,
} as const;
const S = CALENDAR_SCOPES;
const EVENTS_SCOPES: readonly string[] = [S.calendar, S.events, S.eventsReadonly, S.readonly]; // §3.1
const LIST_SCOPES: readonly string[] = [S.readonly, S.calendar, S.calendarList, S.calendarListReadonly]; // §3.2

const ROLE_RANK: Record<string, number> = { freeBusyReader: 0, reader: 1, writerWithoutPrivateAccess: 2, writer: 2, owner: 3 };

export type CalendarDouble = DoubleControls<CalendarAccount, GoogleFailure>;

export interface CalendarDoubleOptions {
  port?: number;
  /**
   * §3.1: "a page can hold fewer, or none, even when more remain". With this set, events.list's first
   * page is empty (with a nextPageToken when anything matches) and later pages hold at most half of
   * `maxResults`, so a test checks that a tool pages on `nextPageToken`, never on a page's length.
   */
  shortPages?: boolean;
}

export async function startCalendarDouble(opts: CalendarDoubleOptions = {}): Promise<CalendarDouble> {
  return startHttpDouble<CalendarAccount, GoogleFailure>({
    port: opts.port,
    failureReply: (failure, req, auth) => googleFailureReply(failure, req, auth, 'rateLimitExceeded'),
    route(req, auth) {
      if (req.method === 'GET' && req.path === '/calendar/v3/users/me/calendarList') {
        return listCalendars(req, requireScope(auth, LIST_SCOPES));
      }
      const events = /^\/calendar\/v3\/calendars\/([^/]+)\/events$/.exec(req.path);
      if (events && req.method === 'GET') {
        const account = requireScope(auth, EVENTS_SCOPES);
        const calendarId = pathSegment(events[1]!);
        const calendar = account.calendars.find((c) => (calendarId === 'primary' ? c.primary : c.id === calendarId));
        // A calendar not in this user's list is not visible to them (§3.3 404 notFound).
        if (!calendar) throw new ReplyError(notFound('Not Found'));
        return listEvents(req, calendar, opts.shortPages ?? false);
      }
      throw new ReplyError(notFound(`No route for ${req.method} ${req.path}`));
    },
  });
}

function listEvents(req: DoubleRequestRecord, calendar: CalendarFixture, shortPages: boolean): Reply {
  const q = req.query;
  if (q.has('syncToken')) throw new ReplyError(badRequest('syncToken is not served by the test double', 'syncToken'));
  const window: Window = {};
  for (const name of ['timeMin', 'timeMax'] as const) {
    const raw = q.get(name);
    if (raw === null) continue;
    const ms = parseRfc3339(raw);
    if (ms === undefined) throw new ReplyError(badRequest(`Bad Request: ${name} must be RFC 3339 with an offset`, name));
    window[name] = ms;
  }
  if (window.timeMin !== undefined && window.timeMax !== undefined && window.timeMin >= window.timeMax) {
    throw new ReplyError(
      googleError({
        code: 400,
        domain: 'calendar',
        reason: 'timeRangeEmpty',
        message: 'The specified time range is empty.',
        location: 'timeMax',
        locationType: 'parameter',
      }),
    );
  }
  const singleEvents = q.get('singleEvents') === 'true';
  const orderBy = q.get('orderBy');
  if (orderBy !== null && orderBy !== 'startTime' && orderBy !== 'updated')
    throw new ReplyError(badRequest(`Invalid value for orderBy: ${orderBy}`, 'orderBy'));
  if (orderBy === 'startTime' && !singleEvents) {
    throw new ReplyError(badRequest('The requested ordering is not available for the particular query.', 'orderBy'));
  }
  const maxResults = intParam(req, 'maxResults', 250, 2500);
  const offset = decodePageToken(q.get('pageToken'));
  if (offset === undefined) throw new ReplyError(badRequest('Invalid pageToken', 'pageToken'));

  const text = q.get('q');
  let placed: Placed[] = eventsInWindow(calendar.events, calendar.timeZone, window, singleEvents);
  if (text) placed = placed.filter((p) => matchesText(p.event, text));
  if (orderBy === 'startTime') placed.sort((a, b) => a.start - b.start || a.end - b.end);
  if (orderBy === 'updated') placed.sort((a, b) => Date.parse(a.event.updated) - Date.parse(b.event.updated));
  const size = !shortPages ? maxResults : q.has('pageToken') ? Math.ceil(maxResults / 2) : 0;
  const page = placed.slice(offset, offset + size);

  const body: Record<string, unknown> = {
    kind: 'calendar#events',
    etag: etag(calendar.id, calendar.events.length),
    summary: calendar.summary,
    ...(calendar.description !== undefined ? { description: calendar.description } : {}),
    updated: latestUpdate(calendar.events),
    timeZone: q.get('timeZone') ?? calendar.timeZone,
    accessRole: calendar.accessRole,
    defaultReminders: calendar.accessRole === 'owner' ? [{ method: 'popup', minutes: 10 }] : [],
  };
  if (offset + size < placed.length) body['nextPageToken'] = encodePageToken(offset + size);
  else body['nextSyncToken'] = Buffer.from(`sync:${calendar.id}`).toString('base64url');
  body['items'] = page.map((p) => visibleFields(p.event, calendar));
  return { status: 200, body };
}

function visibleFields(event: CalendarEvent, calendar: CalendarFixture): Partial<CalendarEvent> {
  if (event.status === 'cancelled' || calendar.accessRole === 'freeBusyReader') {
    const { kind, id, status, start, end, recurringEventId, originalStartTime } = event;
    return { kind, id, status, start, end, ...(recurringEventId ? { recurringEventId, originalStartTime } : {}) };
  }
  return event;
}

function listCalendars(req: DoubleRequestRecord, account: CalendarAccount): Reply {
  const q = req.query;
  if (q.has('syncToken')) throw new ReplyError(badRequest('syncToken is not served by the test double', 'syncToken'));
  const minRole = q.get('minAccessRole');
  if (minRole !== null && !(minRole in ROLE_RANK)) throw new ReplyError(badRequest(`Invalid value for minAccessRole: ${minRole}`, 'minAccessRole'));
  const maxResults = intParam(req, 'maxResults', 100, 250);
  const offset = decodePageToken(q.get('pageToken'));
  if (offset === undefined) throw new ReplyError(badRequest('Invalid pageToken', 'pageToken'));
  const showHidden = q.get('showHidden') === 'true';

  const entries = account.calendars.filter((c) => showHidden || !c.hidden).filter((c) => minRole === null || ROLE_RANK[c.accessRole]! >= ROLE_RANK[minRole]!);
  const page = entries.slice(offset, offset + maxResults);
  const body: Record<string, unknown> = { kind: 'calendar#calendarList', etag: etag(account.email, entries.length) };
  if (offset + maxResults < entries.length) body['nextPageToken'] = encodePageToken(offset + maxResults);
  else body['nextSyncToken'] = Buffer.from(`sync:${account.email}`).toString('base64url');
  body['items'] = page.map(({ events: _events, ...entry }) => entry);
  return { status: 200, body };
}

/** Google etags are quoted opaque strings. */
function etag(...parts: Array<string | number>): string {
  return `"${createHash('sha256').update(parts.join('|')).digest('hex').slice(0, 16)}"`;
}

function latestUpdate(events: CalendarEvent[]): string {
  return events.reduce((max, e) => (e.updated > max ? e.updated : max), '2026-01-01T00:00:00.000Z');
}
