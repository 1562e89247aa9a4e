import { eitherAborted } from '@mcprt/calls';
import { createLogger } from '@mcprt/observability';
import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { McpRequestIdentity } from '../mcp/request-identity.js';
import { RequestState } from './state.js';

/**
 * Objects made for every request carry no accessor of their own. V8 allocates an accessor's pair
 * (getter, setter) in the old generation; when the getter is a closure made for one object (a getter
 * in an object literal, `Object.defineProperty` with a fresh function), that dead pair keeps the
 * closure, and all it reaches (a request's Koa context, a failed parse's input), alive through every
 * young-generation collection until the next full one. Measured on the API: a fifth of each request's
 * allocation survived every scavenge, and scavenges took milliseconds at one call in flight
 * (docs/architecture.md, "Per-request accessors"). Allowed: accessors on a prototype, and own accessors
 * whose functions are shared by every instance (zod's failed-parse result and an object schema's
 * `shape`, patches/zod@4.6.7.patch).
 */
function ownAccessorsShared(a: object, b: object): Record<string, boolean> {
  const out: Record<string, boolean> = {};
  for (const key of Reflect.ownKeys(a)) {
    const da = Object.getOwnPropertyDescriptor(a, key)!;
    if (!da.get && !da.set) continue;
    const db = Object.getOwnPropertyDescriptor(b, key);
    out[String(key)] = db !== undefined && da.get === db.get && da.set === db.set;
  }
  return out;
}
const shared = (a: object, b: object) => Object.values(ownAccessorsShared(a, b)).every(Boolean);

describe('per-request objects have no accessors of their own', () => {
  it('the check finds a getter in an object literal', () => {
    const make = (v: number) => ({
      get x() {
        return v;
      },
    });
    expect(ownAccessorsShared(make(1), make(2))).toEqual({ x: false });
  });

  it("zod's failed-parse result: `error` is an own accessor shared by every result, built lazily, replaceable", () => {
    const schema = z.object({ message: z.string() });
    const [a, b] = [schema.safeParse({ message: 1 }), schema.safeParse({ message: 2 })];
    expect(ownAccessorsShared(a, b)).toEqual({ error: true });
    expect(Object.keys(a)).toEqual(['success', 'error']);
    expect(a.success).toBe(false);
    expect(a.error?.issues[0]?.path).toEqual(['message']);
    expect(a.error).toBe(a.error); // built once
    const replaced = new z.ZodError([]);
    (b as { error: unknown }).error = replaced;
    expect(b.error).toBe(replaced);
  });

  it("zod's object schema: the def's `shape` is an accessor shared by every def, frozen on first read; clones and unions still read it", () => {
    const make = () => z.object({ kind: z.literal('a'), message: z.string() });
    const [a, b] = [make(), make()];
    expect(ownAccessorsShared(a._zod.def, b._zod.def)).toEqual({ shape: true });
    const first = a._zod.def.shape;
    expect(Object.keys(first)).toEqual(['kind', 'message']);
    expect(a._zod.def.shape).toBe(first); // frozen: a data property from now on
    expect(Object.getOwnPropertyDescriptor(a._zod.def, 'shape')?.get).toBeUndefined();
    expect(Object.keys(b._zod.def)).toEqual(Object.keys(make()._zod.def)); // nothing new is enumerable
    expect(Object.keys(b.extend({ n: z.number() }).shape)).toEqual(['kind', 'message', 'n']);
    expect(b.strict().safeParse({ kind: 'a', message: 'x', extra: 1 }).success).toBe(false);
    expect(b.pick({ message: true }).parse({ message: 'x' })).toEqual({ message: 'x' });
    const union = z.discriminatedUnion('kind', [make(), z.object({ kind: z.literal('b'), n: z.number() })]);
    expect(union.parse({ kind: 'b', n: 1 })).toEqual({ kind: 'b', n: 1 });
    expect(union.safeParse({ kind: 'a', message: 1 }).success).toBe(false);
  });

  it('the request state, the MCP request identity and eitherAborted', () => {
    const log = createLogger({ name: 'accessors', level: 'silent' });
    const states = [1, 2].map((i) => {
      const s = new RequestState(`req-${i}`, log, { requestId: `req-${i}` });
      Object.assign(s, { tenant: { id: `t${i}` }, scope: {}, token: { clientId: 'c' }, user: { id: `u${i}` } });
      s.bind({ tenant: `t${i}` });
      return s;
    });
    expect(shared(states[0]!, states[1]!)).toBe(true);
    const who = states.map((s) => new McpRequestIdentity(s, {}, () => undefined));
    expect(shared(who[0]!, who[1]!)).toBe(true);
    expect(who[0]!.log).toBe(states[0]!.log); // still lazy, still the request's own child
    const [x, y] = [new AbortController(), new AbortController()];
    const either = [eitherAborted(x.signal, y.signal), eitherAborted(y.signal, x.signal)] as object[];
    expect(shared(either[0]!, either[1]!)).toBe(true);
    y.abort();
    expect((either[0] as AbortSignal).aborted).toBe(true);
  });

  it("the request log's bindings accumulate, and the child is rebuilt after a bind", () => {
    const lines: string[] = [];
    const log = createLogger({ name: 'accessors', level: 'info', destination: { write: (l: string) => void lines.push(l) } });
    const s = new RequestState('req-1', log, { requestId: 'req-1' });
    s.log.info('first');
    s.bind({ tenant: 'acme' });
    s.log.info('second');
    expect(lines.map((l) => JSON.parse(l) as Record<string, unknown>)).toMatchObject([
      { requestId: 'req-1', msg: 'first' },
      { requestId: 'req-1', tenant: 'acme', msg: 'second' },
    ]);
    expect(JSON.parse(lines[0]!)).not.toHaveProperty('tenant');
  });
});
