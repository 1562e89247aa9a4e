import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';

import { calendarEvent, calendarFixture } from './calendar-fixtures.js';
import type { CalendarEvent } from './calendar-fixtures.js';
import { CALENDAR_SCOPES, startCalendarDouble } from './calendar.js';
import type { CalendarDouble } from './calendar.js';

// Section numbers (§n) in the test names are those of docs/upstream-apis.md, where each shape is sourced.

const ALICE = 'ya29.alice-cal';
const ALICE_EVENTS_ONLY = 'ya29.alice-events-only';
const BOB = 'ya29.bob-cal';

describe('Calendar double', () => {
  let cal: CalendarDouble;

  beforeAll(async () => {
    cal = await startCalendarDouble();
    cal.addUser(ALICE, {
      scopes: [CALENDAR_SCOPES.readonly],
      data: {
        email: 'alice@example.test',
        calendars: [
          calendarFixture({
            id: 'alice@example.test',
            summary: 'alice@example.test',
            timeZone: 'Europe/Paris',
            primary: true,
            events: [
              {
                id: 'review',
                summary: 'Design review',
                location: 'Room 4',
                start: '2026-12-01T10:00:00+01:00',
                end: '2026-12-01T11:00:00+01:00',
                timeZone: 'Europe/Paris',
                attendees: [
                  { email: 'alice@example.test', self: true, responseStatus: 'accepted' },
                  { email: 'carol@example.test', displayName: 'Carol', responseStatus: 'tentative', optional: true },
                ],
                updated: '2026-11-20T08:00:00.000Z',
              },
              {
                id: 'standup',
                summary: 'Standup',
                start: '2026-10-19T09:00:00+02:00',
                end: '2026-10-19T09:15:00+02:00',
                timeZone: 'Europe/Paris',
                recurrence: ['RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR'],
                updated: '2026-10-01T08:00:00.000Z',
              },
              { id: 'holiday', summary: 'Holiday', start: '2026-12-24', end: '2026-12-26', updated: '2026-09-01T08:00:00.000Z' },
              { id: 'offsite', summary: 'Offsite (cancelled)', status: 'cancelled', start: '2026-12-02T09:00:00Z', end: '2026-12-02T17:00:00Z' },
              {
                id: 'training',
                summary: 'Training',
                start: '2026-11-30T23:00:00Z',
                end: '2026-12-01T01:00:00Z',
                recurrence: ['RRULE:FREQ=DAILY;COUNT=3'],
                updated: '2026-11-29T08:00:00.000Z',
              },
            ],
          }),
          calendarFixture({ id: 'team@group.example.test', summary: 'Team', timeZone: 'UTC', accessRole: 'reader' }),
          calendarFixture({
            id: 'boss@example.test',
            summary: 'Boss',
            timeZone: 'UTC',
            accessRole: 'freeBusyReader',
            events: [{ id: 'secret', summary: 'Private boss thing', start: '2026-12-01T12:00:00Z', end: '2026-12-01T13:00:00Z' }],
          }),
          calendarFixture({ id: 'old@group.example.test', summary: 'Old', timeZone: 'UTC', hidden: true }),
        ],
      },
    });
    cal.addToken(ALICE_EVENTS_ONLY, { sameUserAs: ALICE, scopes: [CALENDAR_SCOPES.eventsReadonly] });
    cal.addUser(BOB, {
      scopes: [CALENDAR_SCOPES.calendar],
      data: {
        email: 'bob@example.test',
        calendars: [
          calendarFixture({
            id: 'bob@example.test',
            summary: 'bob@example.test',
            timeZone: 'America/New_York',
            primary: true,
            events: [{ id: 'bob-1', summary: "Bob's design review", start: '2026-12-01T10:00:00-05:00', end: '2026-12-01T11:00:00-05:00' }],
          }),
        ],
      },
    });
  });
  afterEach(() => cal.clearFailures());
  afterAll(() => cal.close());

  const get = (path: string, token: string | null = ALICE): Promise<Response> =>
    fetch(`${cal.url}/calendar/v3${path}`, { redirect: 'manual', headers: token ? { authorization: `Bearer ${token}` } : {} });
  const events = async (query: Record<string, string>, calendarId = 'primary', token = ALICE): Promise<Record<string, unknown>> => {
    const res = await get(`/calendars/${encodeURIComponent(calendarId)}/events?${new URLSearchParams(query).toString()}`, token);
    expect(res.status).toBe(200);
    return (await res.json()) as Record<string, unknown>;
  };
  const items = (body: Record<string, unknown>): CalendarEvent[] => body['items'] as CalendarEvent[];
  const ids = (body: Record<string, unknown>): string[] => items(body).map((e) => e.id);
  type GoogleError = { code: number; message: string; status: string; errors: Array<Record<string, string>>; details?: unknown[] };
  const errorOf = async (res: Response): Promise<GoogleError> => ((await res.json()) as { error: GoogleError }).error;

  const WEEK = { timeMin: '2026-11-30T00:00:00+01:00', timeMax: '2026-12-07T00:00:00+01:00' };

  describe('events.list (§3.1)', () => {
    it('answers the Events resource shape', async () => {
      const body = await events({ ...WEEK, singleEvents: 'true', orderBy: 'startTime' });
      expect(body).toMatchObject({
        kind: 'calendar#events',
        etag: expect.stringMatching(/^".+"$/),
        summary: 'alice@example.test',
        updated: expect.any(String),
        timeZone: 'Europe/Paris',
        accessRole: 'owner',
        defaultReminders: [{ method: 'popup', minutes: 10 }],
        nextSyncToken: expect.any(String),
      });
      expect(body['nextPageToken']).toBeUndefined();
      const review = items(body).find((e) => e.id === 'review')!;
      expect(review).toMatchObject({
        kind: 'calendar#event',
        status: 'confirmed',
        htmlLink: expect.stringMatching(/^https:\/\/www\.google\.com\/calendar\/event\?eid=/),
        summary: 'Design review',
        location: 'Room 4',
        start: { dateTime: '2026-12-01T10:00:00+01:00', timeZone: 'Europe/Paris' },
        end: { dateTime: '2026-12-01T11:00:00+01:00', timeZone: 'Europe/Paris' },
        organizer: { email: 'alice@example.test', self: true },
        iCalUID: 'review@google.com',
      });
      expect(review.attendees![1]).toEqual({ email: 'carol@example.test', displayName: 'Carol', responseStatus: 'tentative', optional: true });
    });

    it('expands recurring events with singleEvents=true, in start order, DST-correct', async () => {
      const body = await events({ timeMin: '2026-10-23T00:00:00+02:00', timeMax: '2026-10-29T00:00:00+01:00', singleEvents: 'true', orderBy: 'startTime' });
      const standups = items(body).filter((e) => e.recurringEventId === 'standup');
      // Fri 23 Oct (CEST), Mon 26 and Wed 28 Oct (CET, after the 25 Oct change): 09:00 local each time.
      expect(standups.map((e) => 'dateTime' in e.start && e.start.dateTime)).toEqual([
        '2026-10-23T09:00:00+02:00',
        '2026-10-26T09:00:00+01:00',
        '2026-10-28T09:00:00+01:00',
      ]);
      expect(standups[1]).toMatchObject({
        id: 'standup_20261026T080000Z',
        originalStartTime: { dateTime: '2026-10-26T09:00:00+01:00', timeZone: 'Europe/Paris' },
        end: { dateTime: '2026-10-26T09:15:00+01:00', timeZone: 'Europe/Paris' },
        summary: 'Standup',
      });
      expect(standups[1]!.recurrence).toBeUndefined();
    });

    it('returns the series once, with recurrence, when singleEvents is not set', async () => {
      const body = await events(WEEK);
      const standup = items(body).filter((e) => e.id.startsWith('standup'));
      expect(standup).toHaveLength(1);
      expect(standup[0]).toMatchObject({ id: 'standup', recurrence: ['RRULE:FREQ=WEEKLY;BYDAY=MO,WE,FR'] });
      expect(standup[0]!.recurringEventId).toBeUndefined();
    });

    it('stops a COUNT rule and includes events overlapping timeMin (timeMin bounds the end)', async () => {
      const body = await events({ timeMin: '2026-12-01T00:30:00Z', timeMax: '2026-12-10T00:00:00Z', singleEvents: 'true', q: 'training' });
      // The first instance runs 23:00→01:00 and so overlaps timeMin; COUNT=3 ends on 2 Dec.
      expect(ids(body)).toEqual(['training_20261130T230000Z', 'training_20261201T230000Z', 'training_20261202T230000Z']);
    });

    it('expands INTERVAL, UNTIL and all-day rules; refuses rules it cannot expand when the fixture is built', async () => {
      cal.dataOf(ALICE).calendars[0]!.events.push(
        calendarEvent(
          {
            id: 'gym',
            summary: 'Gym',
            start: '2026-12-01T18:00:00Z',
            end: '2026-12-01T19:00:00Z',
            recurrence: ['RRULE:FREQ=DAILY;INTERVAL=2;UNTIL=20261206T000000Z'],
          },
          'alice@example.test',
        ),
        calendarEvent(
          { id: 'leave', summary: 'Leave', start: '2026-12-28', end: '2026-12-29', recurrence: ['RRULE:FREQ=DAILY;COUNT=2'] },
          'alice@example.test',
        ),
      );
      try {
        const gym = await events({ timeMin: '2026-11-30T00:00:00Z', timeMax: '2027-01-01T00:00:00Z', singleEvents: 'true', orderBy: 'startTime', q: 'gym' });
        expect(ids(gym)).toEqual(['gym_20261201T180000Z', 'gym_20261203T180000Z', 'gym_20261205T180000Z']);
        const leave = await events({ timeMin: '2026-12-27T00:00:00Z', timeMax: '2027-01-01T00:00:00Z', singleEvents: 'true', q: 'leave' });
        expect(items(leave).map((e) => [e.id, e.start, e.end])).toEqual([
          ['leave_20261228', { date: '2026-12-28' }, { date: '2026-12-29' }],
          ['leave_20261229', { date: '2026-12-29' }, { date: '2026-12-30' }],
        ]);
      } finally {
        cal.dataOf(ALICE).calendars[0]!.events.splice(-2);
      }
      const monthly = { summary: 'x', start: '2026-12-01T10:00:00Z', end: '2026-12-01T11:00:00Z', recurrence: ['RRULE:FREQ=MONTHLY'] };
      expect(() => calendarEvent(monthly)).toThrow(/FREQ=DAILY\|WEEKLY/);
      expect(() => calendarEvent({ ...monthly, recurrence: ['RRULE:FREQ=DAILY', 'EXDATE:20261202T100000Z'] })).toThrow(/EXDATE/);
      expect(() => calendarEvent({ ...monthly, recurrence: undefined, start: '2026-12-01T10:00:00' })).toThrow(/offset/);
    });

    it('excludes an event that starts at timeMax (exclusive) or ends at timeMin', async () => {
      expect(ids(await events({ timeMin: '2026-12-01T11:00:00+01:00', timeMax: '2026-12-01T12:00:00+01:00', q: 'review' }))).toEqual([]);
      expect(ids(await events({ timeMin: '2026-12-01T09:00:00+01:00', timeMax: '2026-12-01T10:00:00+01:00', q: 'review' }))).toEqual([]);
      expect(ids(await events({ timeMin: '2026-12-01T10:59:00+01:00', timeMax: '2026-12-01T12:00:00+01:00', q: 'review' }))).toEqual(['review']);
    });

    it('serves all-day events as date, placed in the calendar zone', async () => {
      const body = await events({ timeMin: '2026-12-24T23:30:00+01:00', timeMax: '2026-12-27T00:00:00+01:00', q: 'holiday' });
      expect(items(body)).toEqual([expect.objectContaining({ id: 'holiday', start: { date: '2026-12-24' }, end: { date: '2026-12-26' } })]);
      // 26 Dec 00:00 Paris is 25 Dec 23:00 UTC: a window from then on no longer holds it.
      expect(ids(await events({ timeMin: '2026-12-25T23:00:00Z', timeMax: '2026-12-27T00:00:00Z', q: 'holiday' }))).toEqual([]);
    });

    it('serves a cancelled event with few fields', async () => {
      const offsite = items(await events(WEEK)).find((e) => e.id === 'offsite')!;
      expect(offsite).toEqual({ kind: 'calendar#event', id: 'offsite', status: 'cancelled', start: expect.any(Object), end: expect.any(Object) });
    });

    it('filters with q over summary, location and attendees', async () => {
      expect(ids(await events({ ...WEEK, q: 'room 4' }))).toEqual(['review']);
      expect(ids(await events({ ...WEEK, q: 'carol@example.test' }))).toEqual(['review']);
      expect(ids(await events({ ...WEEK, q: 'no such thing' }))).toEqual([]);
    });

    it('orders by updated', async () => {
      const body = await events({ ...WEEK, orderBy: 'updated' });
      // The cancelled event carries no `updated`; the others come oldest first.
      const updated = items(body)
        .map((e) => e.updated)
        .filter(Boolean);
      expect(updated).toEqual([...updated].sort());
      expect(updated).toHaveLength(3);
    });

    it('pages with maxResults and nextPageToken; nextSyncToken only on the last page', async () => {
      const seen: string[] = [];
      let pageToken: string | undefined;
      let pages = 0;
      for (;;) {
        const body = await events({ ...WEEK, singleEvents: 'true', orderBy: 'startTime', maxResults: '2', ...(pageToken ? { pageToken } : {}) });
        pages += 1;
        seen.push(...ids(body));
        pageToken = body['nextPageToken'] as string | undefined;
        if (!pageToken) {
          expect(body['nextSyncToken']).toEqual(expect.any(String));
          break;
        }
        expect(body['nextSyncToken']).toBeUndefined();
      }
      const all = ids(await events({ ...WEEK, singleEvents: 'true', orderBy: 'startTime' }));
      expect(seen).toEqual(all);
      expect(pages).toBe(Math.ceil(all.length / 2));
      expect(all.length).toBeGreaterThan(4);
    });

    it('with shortPages, pages hold fewer or none while more remain (§3.1)', async () => {
      const short = await startCalendarDouble({ shortPages: true });
      try {
        short.addUser('t', { scopes: [CALENDAR_SCOPES.readonly], data: cal.dataOf(ALICE) });
        const sizes: number[] = [];
        const seen: string[] = [];
        let pageToken: string | undefined;
        do {
          const query = new URLSearchParams({ ...WEEK, singleEvents: 'true', orderBy: 'startTime', maxResults: '4', ...(pageToken ? { pageToken } : {}) });
          const body = (await (
            await fetch(`${short.url}/calendar/v3/calendars/primary/events?${query.toString()}`, { headers: { authorization: 'Bearer t' } })
          ).json()) as Record<string, unknown>;
          sizes.push(items(body).length);
          seen.push(...ids(body));
          pageToken = body['nextPageToken'] as string | undefined;
        } while (pageToken);
        expect(sizes[0]).toBe(0);
        expect(Math.max(...sizes)).toBe(2);
        expect(seen).toEqual(ids(await events({ ...WEEK, singleEvents: 'true', orderBy: 'startTime' })));
      } finally {
        await short.close();
      }
    });

    it('echoes the timeZone parameter', async () => {
      expect((await events({ ...WEEK, timeZone: 'Asia/Tokyo' }))['timeZone']).toBe('Asia/Tokyo');
    });

    it('answers timeMin ≥ timeMax with 400 timeRangeEmpty (§3.3)', async () => {
      const res = await get('/calendars/primary/events?timeMin=2026-12-02T00:00:00Z&timeMax=2026-12-01T00:00:00Z');
      expect(res.status).toBe(400);
      expect(await errorOf(res)).toEqual({
        code: 400,
        message: 'The specified time range is empty.',
        status: 'INVALID_ARGUMENT',
        errors: [
          { domain: 'calendar', reason: 'timeRangeEmpty', message: 'The specified time range is empty.', location: 'timeMax', locationType: 'parameter' },
        ],
      });
    });

    it.each([
      ['timeMin without an offset', 'timeMin=2026-12-01T00:00:00', 'timeMin'],
      ['orderBy=startTime without singleEvents', 'orderBy=startTime', 'orderBy'],
      ['a bad pageToken', 'pageToken=xyz', 'pageToken'],
      ['a bad maxResults', 'maxResults=-1', 'maxResults'],
    ])('refuses %s with 400 badRequest', async (_name, query, location) => {
      const res = await get(`/calendars/primary/events?${query}`);
      expect(res.status).toBe(400);
      expect((await errorOf(res)).errors[0]).toMatchObject({ reason: 'badRequest', location, locationType: 'parameter' });
    });

    it('strips a freeBusyReader calendar’s events to times', async () => {
      const body = await events(WEEK, 'boss@example.test');
      expect(body['accessRole']).toBe('freeBusyReader');
      expect(items(body)).toEqual([
        { kind: 'calendar#event', id: 'secret', status: 'confirmed', start: { dateTime: '2026-12-01T12:00:00Z' }, end: { dateTime: '2026-12-01T13:00:00Z' } },
      ]);
    });
  });

  describe('calendarList.list (§3.2)', () => {
    it('lists visible calendars with primary, without hidden ones by default', async () => {
      const res = await get('/users/me/calendarList');
      expect(res.status).toBe(200);
      const body = (await res.json()) as { kind: string; etag: string; items: Array<Record<string, unknown>> };
      expect(body.kind).toBe('calendar#calendarList');
      expect(body.items.map((c) => c['id'])).toEqual(['alice@example.test', 'team@group.example.test', 'boss@example.test']);
      expect(body.items[0]).toEqual({
        id: 'alice@example.test',
        summary: 'alice@example.test',
        timeZone: 'Europe/Paris',
        accessRole: 'owner',
        primary: true,
        backgroundColor: '#9fe1e7',
        foregroundColor: '#000000',
      });
      const hidden = (await (await get('/users/me/calendarList?showHidden=true')).json()) as { items: unknown[] };
      expect(hidden.items).toHaveLength(4);
    });

    it('filters minAccessRole and pages', async () => {
      const readers = (await (await get('/users/me/calendarList?minAccessRole=reader')).json()) as { items: Array<{ id: string }> };
      expect(readers.items.map((c) => c.id)).toEqual(['alice@example.test', 'team@group.example.test']);
      const first = (await (await get('/users/me/calendarList?maxResults=2')).json()) as { items: unknown[]; nextPageToken?: string };
      expect(first.items).toHaveLength(2);
      const second = (await (await get(`/users/me/calendarList?maxResults=2&pageToken=${first.nextPageToken!}`)).json()) as {
        items: Array<{ id: string }>;
        nextPageToken?: string;
      };
      expect(second.items.map((c) => c.id)).toEqual(['boss@example.test']);
      expect(second.nextPageToken).toBeUndefined();
    });
  });

  describe('scopes and per-token isolation', () => {
    it('calendar.events.readonly reads events but gets 403 insufficientPermissions on calendarList', async () => {
      expect((await get('/calendars/primary/events', ALICE_EVENTS_ONLY)).status).toBe(200);
      const res = await get('/users/me/calendarList', ALICE_EVENTS_ONLY);
      expect(res.status).toBe(403);
      const error = await errorOf(res);
      expect(error.errors[0]!['reason']).toBe('insufficientPermissions');
      expect(error.details).toEqual([
        { '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT', domain: 'googleapis.com' },
      ]);
    });

    it('a Gmail-only token gets 403 on events', async () => {
      cal.addToken('ya29.alice-gmail-only', { sameUserAs: ALICE, scopes: ['https://www.googleapis.com/auth/gmail.readonly'] });
      expect((await get('/calendars/primary/events', 'ya29.alice-gmail-only')).status).toBe(403);
    });

    it("bob's primary is bob's; alice's calendar is 404 for bob", async () => {
      const body = await events({ q: 'design review' }, 'primary', BOB);
      expect(ids(body)).toEqual(['bob-1']);
      expect(body['timeZone']).toBe('America/New_York');
      const res = await get('/calendars/alice%40example.test/events', BOB);
      expect(res.status).toBe(404);
      expect((await errorOf(res)).errors[0]!['reason']).toBe('notFound');
      const list = (await (await get('/users/me/calendarList', BOB)).json()) as { items: Array<{ id: string }> };
      expect(list.items.map((c) => c.id)).toEqual(['bob@example.test']);
    });

    it.each([
      ['no token', null],
      ['an unknown token', 'ya29.nobody'],
    ])('answers %s with 401 authError', async (_name, token) => {
      const res = await get('/calendars/primary/events', token);
      expect(res.status).toBe(401);
      expect((await errorOf(res)).errors[0]).toEqual({
        domain: 'global',
        reason: 'authError',
        message: 'Invalid Credentials',
        location: 'Authorization',
        locationType: 'header',
      });
    });

    it('answers a revoked token with 401', async () => {
      cal.addToken('ya29.alice-cal-2', { sameUserAs: ALICE, scopes: [CALENDAR_SCOPES.readonly] });
      cal.revoke('ya29.alice-cal-2');
      expect((await get('/calendars/primary/events', 'ya29.alice-cal-2')).status).toBe(401);
    });
  });

  describe('scripted failures', () => {
    it.each([
      [401, 'authError'],
      [403, 'insufficientPermissions'],
      [404, 'notFound'],
      [429, 'rateLimitExceeded'],
      [500, 'backendError'],
    ])('failNext({status: %i}) answers reason %s once', async (status, reason) => {
      cal.failNext({ status, match: { path: '/calendar/v3/calendars/primary/events' } });
      expect((await get('/users/me/calendarList')).status).toBe(200);
      const res = await get('/calendars/primary/events');
      expect(res.status).toBe(status);
      expect((await errorOf(res)).errors[0]!['reason']).toBe(reason);
      expect((await get('/calendars/primary/events')).status).toBe(200);
    });

    it('429 with Retry-After; 403 userRateLimitExceeded in usageLimits', async () => {
      cal.failNext({ status: 429, retryAfter: 7 });
      const limited = await get('/calendars/primary/events');
      expect(limited.headers.get('retry-after')).toBe('7');
      cal.failNext({ status: 403, reason: 'userRateLimitExceeded' });
      expect((await errorOf(await get('/calendars/primary/events'))).errors[0]).toMatchObject({ domain: 'usageLimits', reason: 'userRateLimitExceeded' });
    });

    it('slow, oversized, malformed and redirected answers', async () => {
      cal.failNext({ delayMs: 200 });
      const started = Date.now();
      expect((await get('/calendars/primary/events')).status).toBe(200);
      expect(Date.now() - started).toBeGreaterThanOrEqual(180);

      cal.failNext({ oversized: { bytes: 1_100_000 } });
      const big = await get('/calendars/primary/events');
      const text = await big.text();
      expect(Buffer.byteLength(text)).toBe(1_100_000);
      expect((JSON.parse(text) as { kind: string }).kind).toBe('calendar#events');

      cal.failNext({ malformedJson: true });
      await expect((await get('/calendars/primary/events')).json()).rejects.toThrow();

      cal.failNext({ redirect: 'http://10.0.0.1/calendar/v3/calendars/primary/events', redirectStatus: 307 });
      const redirected = await get('/calendars/primary/events');
      expect(redirected.status).toBe(307);
      expect(redirected.headers.get('location')).toBe('http://10.0.0.1/calendar/v3/calendars/primary/events');
    });
  });
});
