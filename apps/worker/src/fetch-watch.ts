import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { withTimeout } from '@mcprt/observability';
import { Queue, type Worker } from 'bullmq';
import type { WorkerResources } from './resources.js';

/**
 * The fetch loop's watch: a BullMQ worker whose loop has stopped taking jobs while jobs wait is
 * replaced by a new one.
 *
 * Why: on a Redis Cluster, when the primary that holds the queue dies and comes back, a BullMQ 6
 * worker's blocking connection (its own duplicate of the cluster client) can end up in a state it
 * never leaves: the worker still reports itself running, its lock renewals and commands work, but its
 * fetch loop waits forever and no job is taken again (measured in the fault suite's Redis Cluster
 * scenarios: about one run in five under load; a known BullMQ/ioredis defect, for which its maintainers
 * advise closing the worker and creating a new one). Job locks are renewed, so the stall check does
 * not help, and the reconciler sees live jobs, so it does not either.
 *
 * How: the worker counts its runs. Every `checkMs`, a worker that has a free slot and has started no
 * job for `wedgeMs` reads the queue's waiting jobs; jobs waiting throughout `wedgeMs` more, while this
 * worker starts none, mean its loop is stuck (another worker with a free slot would have taken them
 * in milliseconds; a busy one is not idle). The stuck worker is closed (its running jobs finish) and a
 * new one, with a new blocking connection, takes its place. A Redis that cannot be read is an outage,
 * not a stuck loop: nothing is decided then.
 */
export interface FetchWatchOptions {
  /** How often the watch looks (ms). */
  checkMs: number;
  /** How long jobs must wait, with this worker idle, before its loop is called stuck (ms); 0 = off. */
  wedgeMs: number;
}

/** What the watch decides from one look (a plain function, tested on its own). */
export function stuckFor(
  s: { now: number; lastStartAt: number; running: number; concurrency: number; waitingJobs: number | undefined; waitingSince: number | undefined },
  wedgeMs: number,
): { waitingSince: number | undefined; stuck: boolean } {
  // Busy, started a job lately, nothing waiting, or Redis not readable: not stuck, and the clock restarts.
  if (s.running >= s.concurrency || s.now - s.lastStartAt < wedgeMs || !s.waitingJobs) return { waitingSince: undefined, stuck: false };
  const since = Math.max(s.waitingSince ?? s.now, s.lastStartAt);
  return { waitingSince: since, stuck: s.now - since >= wedgeMs };
}

export interface WatchedWorker {
  /** Resolves when the first worker is connected. */
  waitUntilReady(): Promise<void>;
  /** Stop watching, close the current worker (its running jobs finish) and any replaced one still closing. */
  close(): Promise<void>;
  /** Abort the running jobs of every worker of this process (past the shutdown grace). */
  cancelAllJobs(reason: string): void;
  /** How many times the loop was found stuck and the worker replaced. */
  readonly replaced: number;
}

/**
 * Start the tool worker under the watch. `make(hooks)` creates a BullMQ worker whose processor calls
 * `hooks.started()` when it starts a job and `hooks.ended()` when it ends (see worker.ts).
 */
export function watchFetchLoop(
  r: Pick<WorkerResources, 'redis' | 'keys' | 'log' | 'metrics' | 'config'>,
  make: (hooks: RunHooks) => Worker,
  opts: FetchWatchOptions,
): WatchedWorker {
  let lastStartAt = Date.now();
  let running = 0;
  let waitingSince: number | undefined;
  let replaced = 0;
  let closing = false;
  const hooks: RunHooks = {
    started() {
      running++;
      lastStartAt = Date.now();
    },
    ended() {
      running--;
    },
  };
  let current = make(hooks);
  const retired = new Set<Worker>();
  const queue = opts.wedgeMs > 0 ? new Queue(TOOL_CALLS_QUEUE, { connection: r.redis, prefix: r.keys.queuePrefix }) : undefined;
  let checking = false;
  const check = async () => {
    if (!queue || closing || checking) return;
    checking = true;
    try {
      const now = Date.now();
      // Read only when this worker is idle and has been for a while: the common case costs nothing.
      let waitingJobs: number | undefined = 0;
      if (running < r.config.WORKER_CONCURRENCY && now - lastStartAt >= opts.wedgeMs) {
        const counts = await withTimeout(queue.getJobCounts('wait', 'prioritized'), opts.checkMs, 'the queue count').catch(() => undefined);
        waitingJobs = counts ? (counts.wait ?? 0) + (counts.prioritized ?? 0) : undefined;
      }
      const d = stuckFor({ now: Date.now(), lastStartAt, running, concurrency: r.config.WORKER_CONCURRENCY, waitingJobs, waitingSince }, opts.wedgeMs);
      waitingSince = d.waitingSince;
      if (!d.stuck || closing) return;
      r.log.error(
        { waitingJobs, idleMs: Date.now() - lastStartAt },
        'the worker took no job while jobs waited: its fetch loop is stuck; replacing it with a new worker',
      );
      r.metrics.fetchLoopReplacements.inc();
      replaced++;
      const old = current;
      current = make(hooks);
      lastStartAt = Date.now();
      waitingSince = undefined;
      retired.add(old);
      // Its running jobs finish (close waits for them); a stuck loop may keep close from ever resolving.
      void old
        .close()
        .catch(() => undefined)
        .finally(() => retired.delete(old));
    } finally {
      checking = false;
    }
  };
  const timer = opts.wedgeMs > 0 ? setInterval(() => void check(), opts.checkMs) : undefined;
  timer?.unref();
  return {
    waitUntilReady: () => current.waitUntilReady().then(() => undefined),
    async close() {
      closing = true;
      if (timer) clearInterval(timer);
      await current.close();
      // A replaced worker's close may never resolve (its loop is stuck): waited for at most a moment.
      await withTimeout(Promise.all([...retired].map((w) => w.close())), 1_000, 'closing a replaced worker').catch(() => undefined);
      await queue?.close().catch(() => undefined);
    },
    cancelAllJobs(reason) {
      for (const w of [current, ...retired]) w.cancelAllJobs(reason);
    },
    get replaced() {
      return replaced;
    },
  };
}

/** Told by the processor as each run starts and ends. */
export interface RunHooks {
  started(): void;
  ended(): void;
}
