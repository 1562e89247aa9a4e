/** Subscribes to "call X is final" bells; returns how to stop. */
export type BellSource = (ring: (callId: string) => void) => Promise<{ unlisten(): Promise<void> }>;

/**
 * API side: wait for a call's completion. The bell (Postgres NOTIFY, sent on commit) only wakes the
 * waiter — the answer is always read from Postgres — and `check` is also polled, so a missed bell
 * (listener reconnecting) costs latency, never correctness.
 */
export class CompletionWaiter {
  readonly #waiters = new Map<string, Set<() => void>>();
  /** Doorbells that rang before anyone waited (a fast job can finish before its caller starts waiting). */
  readonly #early = new Map<string, number>();
  readonly #listening: Promise<{ unlisten(): Promise<void> } | undefined>;

  constructor(source: BellSource) {
    this.#listening = source((callId) => {
      const set = this.#waiters.get(callId);
      if (set) for (const wake of set) wake();
      else this.#remember(callId);
    }).catch(() => undefined); // no bell: polling still answers
  }

  /**
   * Resolve when `check()` returns a value, re-checking on each doorbell and every `pollMs`; resolve
   * undefined after `timeoutMs` or on abort.
   */
  async wait<T>(
    callId: string,
    check: () => Promise<T | undefined>,
    opts: { timeoutMs: number; pollMs?: number; signal?: AbortSignal; checkFirst?: boolean },
  ): Promise<T | undefined> {
    await this.#listening;
    const deadline = Date.now() + opts.timeoutMs;
    const pollMs = opts.pollMs ?? 1_000;
    let wake: () => void = () => {};
    const set = this.#waiters.get(callId) ?? new Set();
    this.#waiters.set(callId, set);
    let skipCheck = opts.checkFirst === false && !this.#early.delete(callId);
    try {
      for (;;) {
        const rung = new Promise<void>((resolve) => {
          wake = resolve;
          set.add(wake);
        });
        if (!skipCheck) {
          const value = await check();
          if (value !== undefined) return value;
        }
        skipCheck = false;
        const left = deadline - Date.now();
        if (left <= 0 || opts.signal?.aborted) return undefined;
        let timer: NodeJS.Timeout | undefined;
        await Promise.race([rung, new Promise<void>((r) => (timer = setTimeout(r, Math.min(pollMs, left))))]);
        clearTimeout(timer);
        set.delete(wake);
      }
    } finally {
      set.delete(wake);
      if (set.size === 0) this.#waiters.delete(callId);
    }
  }

  #remember(callId: string): void {
    const now = Date.now();
    this.#early.set(callId, now);
    // Every replica hears every call's bell; keep only the last few seconds.
    if (this.#early.size > 1_000) for (const [id, at] of this.#early) if (now - at > 5_000) this.#early.delete(id);
  }

  async close(): Promise<void> {
    await (await this.#listening)?.unlisten().catch(() => undefined);
  }
}
