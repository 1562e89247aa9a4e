import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { createLogger } from '@mcprt/observability';
import { apiKeyCreate } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SCOPES, startStack, type Stack } from './harness/stack.js';

/**
 * Page cursors of the history APIs (user and back office, calls and audit) are opaque: a cursor that
 * is not one the endpoint returned — bad base64, bad JSON, another shape, an impossible time, a huge
 * number, an id of another format, another endpoint's cursor, a re-encoding of a real one — is a 400
 * `invalid_cursor` and is logged at no error level. It used to reach Postgres (`2026-13-45` as a
 * timestamptz) and come back as a 500 with an error-level log line, on demand. A seeded fuzz adds
 * random bytes and mutations of real cursors.
 */

const b64 = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v), 'utf8').toString('base64url');
const ID = 'call_AAAAAAAAAAAAAAAAAAAAAA';
const T = '2026-01-02T03:04:05.123456Z';

/** Hand-made forgeries, each for the endpoint kinds it is aimed at. */
function forged(): { label: string; cursor: string }[] {
  const call = (t: unknown, i: unknown, extra: Record<string, unknown> = {}) => b64({ k: 'c', t, i, ...extra });
  const audit = (i: unknown, extra: Record<string, unknown> = {}) => b64({ k: 'a', i, ...extra });
  const list: [string, string][] = [
    ['not base64url', '!!!'],
    ['padding', `${b64({ k: 'a', i: 5 })}==`],
    ['one character', 'a'],
    ['empty JSON', b64('')],
    ['truncated JSON', b64('{"k":"c","t":')],
    ['JSON null', b64('null')],
    ['JSON array', b64('[]')],
    ['JSON string', b64('"c"')],
    ['JSON number', b64('1')],
    ['empty object', b64({})],
    ['kind only', b64({ k: 'c' })],
    ['unknown kind', b64({ k: 'x', i: 1 })],
    ['extra key (calls)', call(T, ID, { x: 1 })],
    ['extra key (audit)', audit(5, { x: 1 })],
    ['year 99999', call('99999-01-01T00:00:00.000000Z', ID)],
    ['month 13, day 45', call('2026-13-45T00:00:00.000000Z', ID)],
    ['30 February', call('2026-02-30T00:00:00.000000Z', ID)],
    ['hour 24', call('2026-01-01T24:00:00.000000Z', ID)],
    ['minute 60', call('2026-01-01T23:60:00.000000Z', ID)],
    ['second 60', call('2026-01-01T23:59:60.000000Z', ID)],
    ['year 0', call('0000-01-01T00:00:00.000000Z', ID)],
    ['time without microseconds', call('2026-01-01T00:00:00Z', ID)],
    ['time with an offset', call('2026-01-01T00:00:00.000000+01:00', ID)],
    ['time as a number', call(1767225600000, ID)],
    ['id of another format', call(T, 'x')],
    ['empty id', call(T, '')],
    ['id with SQL', call(T, "call_'; drop table tool_calls; --")],
    ['id too long', call(T, `${ID}A`)],
    ['id as a number', call(T, 42)],
    ['audit id 1e308', b64('{"k":"a","i":1e308}')],
    ['audit id past bigint', b64('{"k":"a","i":9223372036854775808}')],
    ['audit id past safe integers', b64('{"k":"a","i":9007199254740993}')],
    ['audit id 0', audit(0)],
    ['audit id negative', audit(-1)],
    ['audit id fraction', audit(1.5)],
    ['audit id as a string', audit('5')],
    ['keys reordered', b64('{"i":5,"k":"a"}')],
    ['whitespace in the JSON', b64('{ "k": "a", "i": 5 }')],
    ['too long', 'A'.repeat(300)],
  ];
  return list.map(([label, cursor]) => ({ label, cursor }));
}

/** A small deterministic generator, so a failing fuzz case can be replayed. */
function prng(seed: number) {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    return (x >>> 0) / 0x1_0000_0000;
  };
}

describe('forged history cursors: 400 invalid_cursor, nothing logged at error level', () => {
  let s: Stack;
  let token: string;
  let key: string;
  const lines: string[] = [];
  const real: Record<string, string> = {};
  const base = () => `${s.config.PUBLIC_URL}/t/${s.tenant.slug}/v1`;
  /** The four paged endpoints, with the credential each takes. */
  const endpoints = () =>
    [
      { path: '/tool-calls', kind: 'calls', auth: token },
      { path: '/audit-events', kind: 'audit', auth: token },
      { path: '/admin/tool-calls', kind: 'calls', auth: key },
      { path: '/admin/audit-events', kind: 'audit', auth: key },
    ] as const;
  const get = (path: string, auth: string, cursor: string) =>
    fetch(`${base()}${path}?limit=1&cursor=${encodeURIComponent(cursor)}`, { headers: { authorization: `Bearer ${auth}` } });

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _e, cb) {
        lines.push(String(chunk));
        cb();
      },
    });
    s = await startStack({ label: 'cursor', worker: 'none', log: createLogger({ name: 'test', level: 'info', destination }) });
    const alice = (await s.connectUser('alice')).user;
    // Wide enough for the user history however its reads are scoped.
    token = await s.token('alice', { scope: `${ALL_SCOPES} calls:read audit:read` });
    ({ key } = await apiKeyCreate(
      { db: s.db.db, sql: s.db.sql, config: s.config, out: () => undefined },
      { slug: s.tenant.slug, scopes: 'audit:read,calls:read', name: 'cursor-test' },
    ));
    const ids = Array.from({ length: 3 }, () => `call_${randomBytes(16).toString('base64url').slice(0, 22)}`);
    await s.db.sql`
      insert into tool_calls (id, tenant_id, user_id, tool, arguments, status, created_at, finished_at)
      select id, ${s.tenant.id}, ${alice.id}, 'echo', '{}'::jsonb, 'succeeded'::tool_call_status, now(), now() from unnest(${ids}::text[]) as id`;
    await s.db.sql`insert into audit_events (tenant_id, user_id, tool, action, decision)
      select ${s.tenant.id}, ${alice.id}, 'echo', 'tool_call.accepted', 'allow' from generate_series(1, 3)`;
    // A real cursor of each endpoint: page 2 is served with it.
    for (const e of endpoints()) {
      const first = await fetch(`${base()}${e.path}?limit=1`, { headers: { authorization: `Bearer ${e.auth}` } });
      expect(first.status, e.path).toBe(200);
      real[e.path] = ((await first.json()) as { nextCursor: string }).nextCursor;
      expect(real[e.path], e.path).toBeTruthy();
      expect((await get(e.path, e.auth, real[e.path]!)).status, e.path).toBe(200);
    }
  });
  afterAll(() => s?.close());

  async function expectRefused(path: string, auth: string, cursor: string, label: string) {
    const res = await get(path, auth, cursor);
    const body = (await res.json()) as { error?: string; error_description?: string };
    expect({ label, path, status: res.status, error: body.error }).toEqual({ label, path, status: 400, error: 'invalid_cursor' });
    expect(body.error_description, label).toMatch(/^cursor: /);
  }
  const errorLines = () => lines.filter((l) => /"level":"error"|"level":50\b/.test(l));

  it('hand-made forgeries on every paged endpoint', async () => {
    for (const e of endpoints()) for (const f of forged()) await expectRefused(e.path, e.auth, f.cursor, f.label);
    expect(errorLines()).toEqual([]);
  });

  it('a cursor of one endpoint given to another (calls ↔ audit) is refused', async () => {
    await expectRefused('/audit-events', token, real['/tool-calls']!, 'calls cursor at audit');
    await expectRefused('/tool-calls', token, real['/audit-events']!, 'audit cursor at calls');
    await expectRefused('/admin/audit-events', key, real['/admin/tool-calls']!, 'calls cursor at admin audit');
    await expectRefused('/admin/tool-calls', key, real['/admin/audit-events']!, 'audit cursor at admin calls');
    expect(errorLines()).toEqual([]);
  });

  it('fuzz: random bytes and mutated real cursors are refused, never a 500 or an error-level log line', async () => {
    const rnd = prng(0x5eed);
    const pick = <T>(xs: readonly T[]) => xs[Math.floor(rnd() * xs.length)]!;
    const cases: { path: string; auth: string; cursor: string; label: string }[] = [];
    for (let n = 0; n < 120; n++) {
      const e = pick(endpoints());
      const decoded = Buffer.from(real[e.path]!, 'base64url').toString('utf8');
      let cursor: string;
      if (n % 3 === 0) {
        cursor = Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 80) }, () => Math.floor(rnd() * 256))).toString('base64url');
      } else {
        // One character of the real cursor's JSON replaced by a printable one (some of these are still
        // valid positions: those must be answered 200, never 500).
        const at = Math.floor(rnd() * decoded.length);
        cursor = b64(decoded.slice(0, at) + String.fromCharCode(32 + Math.floor(rnd() * 95)) + decoded.slice(at + 1));
      }
      cases.push({ path: e.path, auth: e.auth, cursor, label: `fuzz ${n}` });
    }
    let refused = 0;
    for (const c of cases) {
      const res = await get(c.path, c.auth, c.cursor);
      const body = (await res.json()) as { error?: string };
      expect([200, 400], `${c.label} ${c.path} ${c.cursor}`).toContain(res.status);
      if (res.status === 400) {
        expect(body.error, c.label).toBe('invalid_cursor');
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(90);
    expect(errorLines()).toEqual([]);
  });
});
