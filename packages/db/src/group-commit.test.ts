import { describe, expect, it } from 'vitest';
import { groupCommit } from './group-commit.js';

/** What a statement error from postgres.js looks like (SQLSTATE in `code`). */
const pgError = (code: string) => Object.assign(new Error(`pg ${code}`), { name: 'PostgresError', code });

function recorder(opts: { manyFails?: unknown; oneFailsOn?: number } = {}) {
  const calls: { kind: 'one' | 'many'; items: number[] }[] = [];
  const run = groupCommit<number, string>({
    one: async (i) => {
      calls.push({ kind: 'one', items: [i] });
      if (i === opts.oneFailsOn) throw pgError('23503');
      return `one:${i}`;
    },
    many: async (items) => {
      calls.push({ kind: 'many', items });
      if (opts.manyFails) throw opts.manyFails;
      return items.map((i) => `many:${i}`);
    },
    maxBatch: 3,
  });
  return { run, calls };
}

describe('groupCommit', () => {
  it('sends the items of one event-loop turn as one group, in order, in groups of at most maxBatch', async () => {
    const { run, calls } = recorder();
    const out = await Promise.all([1, 2, 3, 4].map(run));
    expect(out).toEqual(['many:1', 'many:2', 'many:3', 'one:4']);
    expect(calls).toEqual([
      { kind: 'many', items: [1, 2, 3] },
      { kind: 'one', items: [4] },
    ]);
  });

  it('sends a lone item through `one`, and items of later turns in later groups', async () => {
    const { run, calls } = recorder();
    expect(await run(1)).toBe('one:1');
    expect(await Promise.all([run(2), run(3)])).toEqual(['many:2', 'many:3']);
    expect(calls.map((c) => c.kind)).toEqual(['one', 'many']);
  });

  it('a statement error in a group retries each item alone: only the bad item fails', async () => {
    const { run, calls } = recorder({ manyFails: pgError('23503'), oneFailsOn: 2 });
    const out = await Promise.allSettled([1, 2, 3].map(run));
    expect(out.map((o) => o.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect((out[1] as PromiseRejectedResult).reason).toMatchObject({ code: '23503' });
    expect(calls).toEqual([
      { kind: 'many', items: [1, 2, 3] },
      { kind: 'one', items: [1] },
      { kind: 'one', items: [2] },
      { kind: 'one', items: [3] },
    ]);
  });

  it('a connection failure is not retried (the group may have committed): every caller gets it', async () => {
    for (const failure of [pgError('08006'), Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'CONNECTION_CLOSED' })]) {
      const { run, calls } = recorder({ manyFails: failure });
      const out = await Promise.allSettled([1, 2].map(run));
      expect(out.every((o) => o.status === 'rejected' && o.reason === failure)).toBe(true);
      expect(calls).toHaveLength(1);
    }
  });

  it('without `one`, a lone item is a group of one (an undefined result is a result)', async () => {
    const groups: number[][] = [];
    const run = groupCommit<number, number | undefined>({ many: async (items) => (groups.push(items), items.map((i) => (i > 1 ? i : undefined))) });
    expect(await run(1)).toBeUndefined();
    expect(await run(2)).toBe(2);
    expect(groups).toEqual([[1], [2]]);
  });

  it('items with different keys never share a group', async () => {
    const groups: string[][] = [];
    const run = groupCommit<string, string>({
      one: async (i) => i,
      many: async (items) => (groups.push(items), items),
      key: (i) => i.split(':')[0]!,
    });
    await Promise.all(['a:1', 'b:1', 'a:2', 'b:2', 'a:3'].map(run));
    expect(groups).toEqual([
      ['a:1', 'a:2', 'a:3'],
      ['b:1', 'b:2'],
    ]);
  });

  it('a group whose statement returns the wrong number of results fails every caller', async () => {
    const run = groupCommit<number, number>({ one: async (i) => i, many: async () => [1] });
    const out = await Promise.allSettled([run(1), run(2)]);
    expect(out.map((o) => o.status)).toEqual(['rejected', 'rejected']);
  });
});
