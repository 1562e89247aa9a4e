import { describe, expect, it } from 'vitest';
import { startLoop } from './loop.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

function recorder() {
  const lines: { level: string; msg: string; o: object }[] = [];
  const failures: string[] = [];
  return {
    lines,
    failures,
    log: {
      warn: (o: object, msg: string) => lines.push({ level: 'warn', msg, o }),
      debug: (o: object, msg: string) => lines.push({ level: 'debug', msg, o }),
    },
    counter: { inc: ({ loop }: { loop: string }) => failures.push(loop) },
  };
}

describe('startLoop', () => {
  it('runs a pass every interval, never two at once', async () => {
    const r = recorder();
    let running = 0;
    let most = 0;
    let passes = 0;
    const loop = startLoop({
      name: 'slow pass',
      intervalMs: 5,
      log: r.log,
      run: async () => {
        most = Math.max(most, ++running);
        await sleep(30);
        running--;
        passes++;
      },
    });
    await sleep(150);
    await loop.stop();
    expect(passes).toBeGreaterThanOrEqual(2);
    expect(most).toBe(1);
  });

  it('logs and counts a failed pass and keeps going', async () => {
    const r = recorder();
    let n = 0;
    const loop = startLoop({
      name: 'flaky pass',
      intervalMs: 5,
      log: r.log,
      failures: r.counter,
      run: async () => {
        if (++n <= 2) throw new Error(n === 1 ? 'async failure' : 'second failure');
      },
    });
    await sleep(100);
    await loop.stop();
    expect(n).toBeGreaterThan(2);
    expect(r.failures).toEqual(['flaky pass', 'flaky pass']);
    expect(r.lines.map((l) => [l.level, l.msg])).toEqual([
      ['warn', 'flaky pass failed'],
      ['warn', 'flaky pass failed'],
    ]);
  });

  it('a pass that throws before returning a promise is a failed pass too; the level can be debug', async () => {
    const r = recorder();
    const loop = startLoop({
      name: 'sync thrower',
      intervalMs: 5,
      log: r.log,
      failureLevel: 'debug',
      run: () => {
        throw new Error('sync');
      },
    });
    await sleep(30);
    await loop.stop();
    expect(r.lines.length).toBeGreaterThan(0);
    expect(r.lines.every((l) => l.level === 'debug')).toBe(true);
  });

  it('stop waits for the pass under way and starts no other', async () => {
    const r = recorder();
    let started = 0;
    let ended = 0;
    const loop = startLoop({
      name: 'long pass',
      intervalMs: 1,
      log: r.log,
      run: async () => {
        started++;
        await sleep(50);
        ended++;
      },
    });
    await sleep(20);
    expect(started).toBe(1);
    await loop.stop();
    expect(ended).toBe(1);
    await sleep(20);
    expect(started).toBe(1);
  });

  it('waits one interval before the first pass, and the jitter stays within its fraction', async () => {
    const r = recorder();
    const at: number[] = [];
    const t0 = Date.now();
    const loop = startLoop({ name: 'jittered', intervalMs: 40, jitter: 0.5, log: r.log, run: async () => void at.push(Date.now() - t0) });
    await sleep(10);
    expect(at).toEqual([]);
    await sleep(200);
    await loop.stop();
    expect(at.length).toBeGreaterThanOrEqual(2);
    expect(at[0]).toBeGreaterThanOrEqual(19);
  });
});
