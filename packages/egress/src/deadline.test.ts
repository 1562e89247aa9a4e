import { describe, expect, it } from 'vitest';
import { deadline } from './deadline.js';

describe('deadline', () => {
  it('fires after ms even under GC pressure, with a TimeoutError', async () => {
    const { signal } = deadline(new AbortController().signal, 50);
    // Churn the heap so weakly held timers would be collected (the AbortSignal.any pitfall).
    for (let i = 0; i < 20; i++) new Array(100_000).fill({ i });
    globalThis.gc?.();
    await new Promise((r) => setTimeout(r, 120));
    expect(signal.aborted).toBe(true);
    expect((signal.reason as Error).name).toBe('TimeoutError');
  });

  it('follows the parent, and clear() stops the timer', async () => {
    const parent = new AbortController();
    const a = deadline(parent.signal, 10_000);
    parent.abort(new Error('shutdown'));
    expect(a.signal.aborted).toBe(true);
    expect((a.signal.reason as Error).message).toBe('shutdown');
    const b = deadline(new AbortController().signal, 30);
    b.clear();
    await new Promise((r) => setTimeout(r, 60));
    expect(b.signal.aborted).toBe(false);
  });
});
