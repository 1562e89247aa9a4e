/** What a loop reports to: its failed passes are logged here. */
interface LoopLog {
  warn(o: object, msg: string): void;
  debug(o: object, msg: string): void;
}

export interface LoopOptions {
  /** Names the loop in its log lines ("<name> failed") and in the failure counter's `loop` label. */
  name: string;
  /** The wait between the end of one pass and the start of the next (the first pass starts after one wait). */
  intervalMs: number;
  /** One pass. Passes never overlap: the next one is scheduled only when this one has ended. */
  run: () => Promise<unknown>;
  log: LoopLog;
  /** Counts failed passes by loop name. */
  failures?: { inc(labels: { loop: string }): void };
  /**
   * Level of a failed pass's log line. `debug` for a loop whose passes fail while a dependency is
   * away (the outage itself is reported elsewhere); default `warn`.
   */
  failureLevel?: 'warn' | 'debug';
  /** Each wait is `intervalMs` ± this fraction of it, so replicas started together drift apart (0..1; default 0). */
  jitter?: number;
}

export interface Loop {
  /** No further pass starts; resolves when the pass under way (if any) has ended. */
  stop(): Promise<void>;
}

/**
 * A background loop: `run` every `intervalMs`, one pass at a time, a failed pass logged and counted
 * and the next one tried as usual. Its timer never keeps the process alive; `stop` ends it and waits
 * for the pass under way, so a process can close its pools after stopping its loops.
 */
export function startLoop(o: LoopOptions): Loop {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let pass: Promise<void> = Promise.resolve();
  const wait = () => {
    const spread = o.jitter ? o.intervalMs * o.jitter * (2 * Math.random() - 1) : 0;
    return Math.max(0, Math.round(o.intervalMs + spread));
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(tick, wait());
    timer.unref();
  };
  const tick = () => {
    timer = undefined;
    pass = Promise.resolve()
      .then(() => o.run())
      .then(
        () => undefined,
        (err: unknown) => {
          o.failures?.inc({ loop: o.name });
          o.log[o.failureLevel ?? 'warn']({ err, loop: o.name }, `${o.name} failed`);
        },
      )
      .finally(schedule);
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      await pass;
    },
  };
}
