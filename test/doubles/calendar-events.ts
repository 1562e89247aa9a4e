/**
 * Which events an events.list window holds (docs/upstream-apis.md §3.1): `timeMin` is an exclusive lower
 * bound on an event's *end*, `timeMax` an exclusive upper bound on its *start*; with
 * `singleEvents=true` a series becomes its instances (each with `recurringEventId` and
 * `originalStartTime`, no `recurrence`), otherwise the series comes back once, as stored.
 */
import type { CalendarEvent, EventTime } from './calendar-fixtures.js';
import type { Zone } from './calendar-time.js';
import { dateToWall, expandWall, formatInZone, offsetAt, offsetOf, parseRfc3339, parseRrule, wallToDate, wallToInstant } from './calendar-time.js';

/** Instances per series at most, so a rule without COUNT/UNTIL and no timeMax stays finite. */
const MAX_INSTANCES = 1000;
const FAR_FUTURE = Date.parse('2100-01-01T00:00:00Z');

export interface Window {
  timeMin?: number;
  timeMax?: number;
}

export interface Placed {
  event: CalendarEvent;
  start: number;
  end: number;
}

/** Start and end instants; all-day dates are midnights in the calendar's zone. */
function instantsOf(event: Pick<CalendarEvent, 'start' | 'end'>, calendarZone: string): { start: number; end: number } {
  return { start: instantOf(event.start, calendarZone), end: instantOf(event.end, calendarZone) };
}

function instantOf(time: EventTime, calendarZone: string): number {
  return 'date' in time ? wallToInstant(dateToWall(time.date), { iana: calendarZone }) : parseRfc3339(time.dateTime)!;
}

const overlaps = (p: { start: number; end: number }, w: Window): boolean =>
  (w.timeMin === undefined || p.end > w.timeMin) && (w.timeMax === undefined || p.start < w.timeMax);

export function eventsInWindow(events: CalendarEvent[], calendarZone: string, window: Window, singleEvents: boolean): Placed[] {
  const out: Placed[] = [];
  for (const event of events) {
    if (!event.recurrence) {
      const placed = { event, ...instantsOf(event, calendarZone) };
      if (overlaps(placed, window)) out.push(placed);
      continue;
    }
    const instances = expand(event, calendarZone, window.timeMax ?? FAR_FUTURE).filter((i) => overlaps(i, window));
    if (singleEvents) out.push(...instances);
    else if (instances.length > 0) out.push({ event, ...instantsOf(event, calendarZone) });
  }
  return out;
}

function expand(series: CalendarEvent, calendarZone: string, untilInstant: number): Placed[] {
  const rule = parseRrule(series.recurrence!);
  const seriesStart = series.start;
  const allDay = 'date' in seriesStart;
  const seriesZone = 'date' in seriesStart ? undefined : seriesStart.timeZone;
  const zone: Zone = 'date' in seriesStart ? { iana: calendarZone } : seriesZone ? { iana: seriesZone } : { fixedMinutes: offsetOf(seriesStart.dateTime) };
  const { start, end } = instantsOf(series, calendarZone);
  const startWall = start + offsetMs(zone, start);
  const durationWall = end + offsetMs(zone, end) - startWall;
  const walls = expandWall(rule, startWall, {
    untilWall: untilInstant + offsetMs(zone, untilInstant),
    limit: MAX_INSTANCES,
    toInstant: (wall) => wallToInstant(wall, zone),
  });
  const { recurrence: _recurrence, ...fields } = series;
  return walls.map((wall) => {
    const instanceStart = wallToInstant(wall, zone);
    const instanceEnd = wallToInstant(wall + durationWall, zone);
    const time = (instant: number, w: number): EventTime =>
      allDay
        ? { date: wallToDate(w) }
        : seriesZone
          ? { dateTime: formatInZone(instant, zone), timeZone: seriesZone }
          : { dateTime: formatInZone(instant, zone) };
    const startTime = time(instanceStart, wall);
    const event: CalendarEvent = {
      ...fields,
      // The reference gives no instance id format; Google's is `<seriesId>_<start in UTC basic format>`.
      id: `${series.id}_${allDay ? wallToDate(wall).replaceAll('-', '') : new Date(instanceStart).toISOString().replace(/[-:]|\.\d{3}/g, '')}`,
      recurringEventId: series.id,
      originalStartTime: startTime,
      start: startTime,
      end: time(instanceEnd, wall + durationWall),
    };
    return { event, start: instanceStart, end: instanceEnd };
  });
}

const offsetMs = (zone: Zone, instant: number): number => offsetAt(zone, instant) * 60_000;

/** §3.1: `q` is free text over summary, description, location, attendees and organizer. */
export function matchesText(event: CalendarEvent, q: string): boolean {
  const haystack = [
    event.summary,
    event.description,
    event.location,
    event.organizer.email,
    event.organizer.displayName,
    ...(event.attendees ?? []).flatMap((a) => [a.email, a.displayName]),
  ]
    .filter((s): s is string => typeof s === 'string')
    .join('\n')
    .toLowerCase();
  return q
    .toLowerCase()
    .split(/\s+/)
    .filter(Boolean)
    .every((word) => haystack.includes(word));
}
