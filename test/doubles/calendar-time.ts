/**
 * Time for the Calendar double: RFC 3339 parsing (§3.1 wants a mandatory offset), IANA zone offsets
 * through Intl (so a weekly 09:00 Europe/Paris stays 09:00 across DST), and expansion of the small
 * RRULE subset the fixtures use: FREQ=DAILY|WEEKLY with INTERVAL, COUNT, UNTIL and (weekly) BYDAY.
 * Anything else throws when the fixture is built, so a test never silently gets a wrong expansion.
 */

const DAY = 86_400_000;
const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.\d+)?(Z|[+-]\d{2}:\d{2})$/i;
const WEEKDAYS = ['MO', 'TU', 'WE', 'TH', 'FR', 'SA', 'SU'];

/** Epoch ms of an RFC 3339 timestamp with offset, or undefined (no offset, or not RFC 3339). */
export function parseRfc3339(value: string): number | undefined {
  if (!RFC3339.test(value)) return undefined;
  const ms = Date.parse(value);
  return Number.isNaN(ms) ? undefined : ms;
}

/** Building a formatter costs far more than using one. */
const formats = new Map<string, Intl.DateTimeFormat>();

/** Offset of a zone at an instant, in minutes east of UTC. */
function zoneOffsetMinutes(timeZone: string, instant: number): number {
  let format = formats.get(timeZone);
  if (!format) formats.set(timeZone, (format = new Intl.DateTimeFormat('en-US', { timeZone, timeZoneName: 'longOffset' })));
  const name = format.formatToParts(new Date(instant)).find((p) => p.type === 'timeZoneName')?.value;
  const match = /GMT([+-])(\d{2}):(\d{2})/.exec(name ?? '');
  if (!match) return 0; // "GMT" alone: UTC
  return (match[1] === '-' ? -1 : 1) * (Number(match[2]) * 60 + Number(match[3]));
}

/** A zone: an IANA name, or the fixed offset an RFC 3339 string was written with. */
export type Zone = { iana: string } | { fixedMinutes: number };

export function offsetAt(zone: Zone, instant: number): number {
  return 'iana' in zone ? zoneOffsetMinutes(zone.iana, instant) : zone.fixedMinutes;
}

/** Wall-clock ms (the local time read as if it were UTC) → instant, in a zone. */
export function wallToInstant(wall: number, zone: Zone): number {
  const first = wall - offsetAt(zone, wall) * 60_000;
  return wall - offsetAt(zone, first) * 60_000;
}

export function offsetOf(value: string): number {
  const suffix = RFC3339.exec(value)?.[7] ?? 'Z';
  if (suffix.toUpperCase() === 'Z') return 0;
  const sign = suffix.startsWith('-') ? -1 : 1;
  return sign * (Number(suffix.slice(1, 3)) * 60 + Number(suffix.slice(4, 6)));
}

/** RFC 3339 in the zone's offset at that instant, e.g. `2026-12-01T09:00:00+01:00`. */
export function formatInZone(instant: number, zone: Zone): string {
  const offset = offsetAt(zone, instant);
  const local = new Date(instant + offset * 60_000).toISOString().slice(0, 19);
  if (offset === 0 && 'fixedMinutes' in zone) return `${local}Z`;
  const abs = Math.abs(offset);
  return `${local}${offset < 0 ? '-' : '+'}${String(Math.floor(abs / 60)).padStart(2, '0')}:${String(abs % 60).padStart(2, '0')}`;
}

/** `YYYY-MM-DD` → wall-clock ms of its midnight. */
export function dateToWall(date: string): number {
  const ms = Date.parse(`${date}T00:00:00Z`);
  if (Number.isNaN(ms) || !/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new TypeError(`not a date: ${date}`);
  return ms;
}

export function wallToDate(wall: number): string {
  return new Date(wall).toISOString().slice(0, 10);
}

interface Rule {
  freq: 'DAILY' | 'WEEKLY';
  interval: number;
  count?: number;
  until?: number;
  byDay?: number[];
}

export function parseRrule(recurrence: readonly string[]): Rule {
  const lines = recurrence.filter((l) => l.startsWith('RRULE:'));
  if (lines.length !== 1 || recurrence.length !== 1) throw new TypeError('the double expands exactly one RRULE line (no EXDATE/RDATE)');
  const fields = new Map(
    lines[0]!
      .slice(6)
      .split(';')
      .map((kv) => kv.split('=') as [string, string]),
  );
  const freq = fields.get('FREQ');
  if (freq !== 'DAILY' && freq !== 'WEEKLY') throw new TypeError(`the double expands FREQ=DAILY|WEEKLY only, not ${freq}`);
  for (const key of fields.keys()) {
    if (!['FREQ', 'INTERVAL', 'COUNT', 'UNTIL', 'BYDAY'].includes(key)) throw new TypeError(`the double does not expand ${key}`);
  }
  const rule: Rule = { freq, interval: Number(fields.get('INTERVAL') ?? 1) };
  if (fields.has('COUNT')) rule.count = Number(fields.get('COUNT'));
  const until = fields.get('UNTIL');
  if (until) {
    const m = /^(\d{4})(\d{2})(\d{2})(?:T(\d{2})(\d{2})(\d{2})Z)?$/.exec(until);
    if (!m) throw new TypeError(`UNTIL must be YYYYMMDD or YYYYMMDDTHHMMSSZ, not ${until}`);
    rule.until = Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, m[4] ? +m[4] : 23, m[5] ? +m[5] : 59, m[6] ? +m[6] : 59);
  }
  const byDay = fields.get('BYDAY');
  if (byDay) {
    if (freq !== 'WEEKLY') throw new TypeError('BYDAY is expanded for FREQ=WEEKLY only');
    rule.byDay = byDay.split(',').map((d) => {
      const index = WEEKDAYS.indexOf(d);
      if (index < 0) throw new TypeError(`BYDAY ${d} is not served`);
      return index;
    });
  }
  return rule;
}

/**
 * Occurrence starts as wall-clock ms (DTSTART first), up to `limit` of them, stopping past `untilWall`
 * (the caller's window end, as wall clock) so unbounded rules stay finite. UNTIL is an instant (RFC 5545),
 * compared through `toInstant`.
 */
export function expandWall(rule: Rule, startWall: number, window: { untilWall: number; limit: number; toInstant: (wall: number) => number }): number[] {
  const { untilWall, limit, toInstant } = window;
  const out: number[] = [];
  const push = (wall: number): boolean => {
    if (rule.count !== undefined && out.length >= rule.count) return false;
    if (rule.until !== undefined && toInstant(wall) > rule.until) return false;
    if (wall > untilWall || out.length >= limit) return false;
    out.push(wall);
    return true;
  };
  if (rule.freq === 'DAILY' || !rule.byDay) {
    const step = (rule.freq === 'DAILY' ? 1 : 7) * rule.interval * DAY;
    for (let wall = startWall; push(wall); wall += step);
    return out;
  }
  const weekday = (new Date(startWall).getUTCDay() + 6) % 7; // Monday = 0 (WKST=MO)
  const days = [...rule.byDay].sort((a, b) => a - b);
  for (let weekStart = startWall - weekday * DAY; ; weekStart += 7 * rule.interval * DAY) {
    for (const day of days) {
      const wall = weekStart + day * DAY;
      if (wall < startWall) continue;
      if (!push(wall)) return out;
    }
  }
}
