/**
 * Calendar fixtures: Event resources (docs/upstream-apis.md §3.1) and CalendarListEntry data (§3.2) from
 * readable specs. Only fields the reference shows are written; `eventType`, `colorId`, `hangoutLink`,
 * `conferenceData`, `transparency` and `visibility` are left out (all optional there).
 */
import { createHash } from 'node:crypto';

import { parseRfc3339, parseRrule } from './calendar-time.js';

export type EventTime = { dateTime: string; timeZone?: string } | { date: string };

export interface EventPerson {
  email: string;
  displayName?: string;
  self?: boolean;
}

export interface EventAttendee extends EventPerson {
  organizer?: boolean;
  optional?: boolean;
  responseStatus: 'needsAction' | 'declined' | 'tentative' | 'accepted';
}

/** An Event resource as stored (a single event, or a recurring series holding `recurrence`). */
export interface CalendarEvent {
  kind: 'calendar#event';
  id: string;
  status: 'confirmed' | 'tentative' | 'cancelled';
  htmlLink: string;
  created: string;
  updated: string;
  summary?: string;
  description?: string;
  location?: string;
  creator: EventPerson;
  organizer: EventPerson;
  start: EventTime;
  end: EventTime;
  recurrence?: string[];
  recurringEventId?: string;
  originalStartTime?: EventTime;
  iCalUID: string;
  sequence: number;
  attendees?: EventAttendee[];
  reminders: { useDefault: boolean };
}

export interface CalendarEventSpec {
  id?: string;
  summary?: string;
  description?: string;
  location?: string;
  /** RFC 3339 with offset (timed) or `YYYY-MM-DD` (all-day; `end` is exclusive, as in the API). */
  start: string;
  end: string;
  /** IANA zone written to `start/end.timeZone`; recurrences expand in it (DST-correct). */
  timeZone?: string;
  status?: CalendarEvent['status'];
  organizer?: EventPerson;
  attendees?: EventAttendee[];
  /** One `RRULE:` line (FREQ=DAILY|WEEKLY; INTERVAL, COUNT, UNTIL, BYDAY). */
  recurrence?: string[];
  updated?: string;
}

export type AccessRole = 'owner' | 'writer' | 'reader' | 'freeBusyReader';

export interface CalendarFixture {
  id: string;
  summary: string;
  description?: string;
  summaryOverride?: string;
  timeZone: string;
  accessRole: AccessRole;
  primary?: boolean;
  selected?: boolean;
  hidden?: boolean;
  backgroundColor: string;
  foregroundColor: string;
  events: CalendarEvent[];
}

/** A user's calendars; `primary` in a path means the entry with `primary: true`. */
export interface CalendarAccount {
  email: string;
  calendars: CalendarFixture[];
}

const CREATED = '2026-01-01T00:00:00.000Z';

export function calendarEvent(spec: CalendarEventSpec, owner = 'owner@example.test'): CalendarEvent {
  const id =
    spec.id ??
    createHash('sha256')
      .update(`${spec.summary ?? ''}|${spec.start}|${spec.end}`)
      .digest('hex')
      .slice(0, 26);
  const time = (value: string): EventTime => {
    if (/^\d{4}-\d{2}-\d{2}$/.test(value)) return { date: value };
    if (parseRfc3339(value) === undefined) throw new TypeError(`event time needs an RFC 3339 offset: ${value}`);
    return spec.timeZone ? { dateTime: value, timeZone: spec.timeZone } : { dateTime: value };
  };
  if (spec.recurrence) parseRrule(spec.recurrence); // fail at build time on rules the double cannot expand
  const organizer = spec.organizer ?? { email: owner, self: true };
  const event: CalendarEvent = {
    kind: 'calendar#event',
    id,
    status: spec.status ?? 'confirmed',
    htmlLink: `https://www.google.com/calendar/event?eid=${Buffer.from(`${id} ${owner}`).toString('base64url')}`,
    created: CREATED,
    updated: spec.updated ?? CREATED,
    creator: organizer,
    organizer,
    start: time(spec.start),
    end: time(spec.end),
    iCalUID: `${id}@google.com`,
    sequence: 0,
    reminders: { useDefault: true },
  };
  if (spec.summary !== undefined) event.summary = spec.summary;
  if (spec.description !== undefined) event.description = spec.description;
  if (spec.location !== undefined) event.location = spec.location;
  if (spec.attendees) event.attendees = spec.attendees;
  if (spec.recurrence) event.recurrence = [...spec.recurrence];
  return event;
}

export function calendarFixture(
  spec: Omit<CalendarFixture, 'events' | 'accessRole' | 'backgroundColor' | 'foregroundColor'> &
    Partial<Pick<CalendarFixture, 'accessRole' | 'backgroundColor' | 'foregroundColor'>> & { events?: CalendarEventSpec[] },
): CalendarFixture {
  const { events = [], ...rest } = spec;
  return {
    accessRole: 'owner',
    backgroundColor: '#9fe1e7',
    foregroundColor: '#000000',
    ...rest,
    events: events.map((e) => calendarEvent(e, spec.id)),
  };
}
