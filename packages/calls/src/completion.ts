/**
 * Aborted when either is: for `CompletionWaiter.wait`, which reads `aborted` between wake-ups. Not
 * `AbortSignal.any`, which builds a signal tracked by weak references in both sources (≈5–40 µs a
 * call on Node 20 and 22, and GC work) for a flag read once a wake-up. A class, not a getter in an
 * object literal: V8 holds an own accessor's closure from the old generation, which keeps what the
 * getter reaches alive through young-generation collections.
 */
export function eitherAborted(a: Pick<AbortSignal, 'aborted'>, b: Pick<AbortSignal, 'aborted'> | undefined): Pick<AbortSignal, 'aborted'> {
  return b ? new EitherAborted(a, b) : a;
}

class EitherAborted {
  constructor(
    private readonly a: Pick<AbortSignal, 'aborted'>,
    private readonly b: Pick<AbortSignal, 'aborted'>,
  ) {}

  get aborted(): boolean {
    return this.a.aborted || this.b.aborted;
  }
}

/** Subscribes to "call X is final" bells (with what the bell carries, if anything); returns how to stop. */
export type BellSource = (ring: (callId: string, detail?: string) => void) => Promise<{ unlisten(): Promise<void> }>;

/**
 * API side: wait for a call's completion. The bell (Postgres NOTIFY, sent on commit) wakes the waiter;
 * when it carries the committed final state (`detail`), `fromBell` turns that into the answer,
 * otherwise the answer is read with `check`. `check` is also polled, so a missed bell (listener
 * reconnecting) costs latency, never correctness.
 */
export class CompletionWaiter {
  readonly #waiters = new Map<string, Set<(detail?: string) => void>>();
  /** Doorbells that rang before anyone waited (a fast job can finish before its caller starts waiting). */
  readonly #early = new Map<string, number>();
  readonly #listening: Promise<{ unlisten(): Promise<void> } | undefined>;

  constructor(source: BellSource) {
    this.#listening = source((callId, detail) => {
      const set = this.#waiters.get(callId);
      if (set) for (const wake of set) wake(detail);
      else this.#remember(callId);
    }).catch(() => undefined); // no bell: polling still answers
  }

  /**
   * Resolve when a bell's detail gives a value through `fromBell`, or `check()` returns one,
   * re-checking on each doorbell and every `pollMs`; resolve undefined after `timeoutMs` or on abort.
   */
  async wait<T>(
    callId: string,
    check: () => Promise<T | undefined>,
    opts: {
      timeoutMs: number;
      pollMs?: number;
      /** Stops the wait; read between wake-ups (a bell or a poll), so any `{ aborted }` will do. */
      signal?: Pick<AbortSignal, 'aborted'>;
      checkFirst?: boolean;
      fromBell?: (detail: string) => T | undefined;
    },
  ): Promise<T | undefined> {
    await this.#listening;
    const deadline = Date.now() + opts.timeoutMs;
    const pollMs = opts.pollMs ?? 1_000;
    let wake: (detail?: string) => void = () => {};
    const set = this.#waiters.get(callId) ?? new Set();
    this.#waiters.set(callId, set);
    let skipCheck = opts.checkFirst === false && !this.#early.delete(callId);
    try {
      for (;;) {
        const rung = new Promise<string | undefined>((resolve) => {
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
        const detail = await Promise.race([rung, new Promise<undefined>((r) => (timer = setTimeout(() => r(undefined), Math.min(pollMs, left))))]);
        clearTimeout(timer);
        set.delete(wake);
        if (detail !== undefined && opts.fromBell) {
          const value = opts.fromBell(detail);
          if (value !== undefined) return value;
        }
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
