import { publish, redisKeys, subscribe, type RedisClient } from '@mcprt/redis';
import { z } from 'zod';
import { callIdSchema } from './call-id.js';

/**
 * The cancel channel: one Redis pub/sub channel under the configured prefix (a Cluster
 * hash tag, like every key of the runtime); a sharded channel on a Redis Cluster (@mcprt/redis pubsub.ts). Whoever cancels a call publishes `{tenantId, callId}`
 * *after* the cancel is committed in Postgres; every worker process holds one subscription and
 * aborts the run of that call if it holds one. Nothing is published or subscribed per call: a call
 * that is never cancelled costs no Redis command.
 *
 * A message lost (a subscriber reconnecting) only means the tool runs to its end: its result is
 * then dropped by the fenced final write (the row is already `cancelled`), and a run past
 * WORKER_RUNNING_MARK_MS learns of the cancel from its `running` mark write as well.
 */
export const cancelChannel = (prefix: string): string => redisKeys(prefix).cancelChannel;

const cancelMessage = z.object({ tenantId: z.uuid(), callId: callIdSchema }).strict();
export type CancelMessage = z.infer<typeof cancelMessage>;

/** Tell every worker that this call is cancelled (the row says so already). Resolves with the number of subscribers reached. */
export function publishCancel(redis: RedisClient, prefix: string, m: CancelMessage): Promise<number> {
  return publish(redis, cancelChannel(prefix), JSON.stringify(m));
}

/**
 * Worker side: the runs this process holds, by call id, and the one subscription that aborts them.
 * `track` is a Map insert (no I/O); register a run before its row is read, so a cancel committed
 * after that read always finds it.
 */
/** How long a cancel for a call not yet running here is kept (a lone call's job starts within milliseconds). */
const EARLY_CANCEL_KEEP_MS = 5_000;

export class CancelListener {
  readonly #runs = new Map<string, { tenantId: string; controller: AbortController; cancelled: boolean }>();
  /**
   * Cancels heard for a call this process was not running yet, kept a few seconds: a lone call's job
   * can start from its admission notice (the row as committed, statements/admission-gate.ts), so a
   * cancel committed after that but before `track` would otherwise be missed until the final write.
   */
  readonly #early = new Map<string, { tenantId: string; at: number }>();
  readonly #sub: RedisClient;
  readonly #ready: Promise<unknown>;

  /** `sub` is a connection of its own (a subscribed connection can do nothing else); closed by `close`. */
  constructor(sub: RedisClient, prefix: string, onError: (e: unknown) => void = () => {}) {
    this.#sub = sub;
    const onMessage = (raw: string) => {
      let m: CancelMessage;
      try {
        m = cancelMessage.parse(JSON.parse(raw));
      } catch (e) {
        onError(e);
        return;
      }
      this.abort(m.tenantId, m.callId);
    };
    this.#ready = subscribe(sub, cancelChannel(prefix), onMessage).catch(onError);
  }

  /** Resolves once the subscription is in place (tests; the worker does not wait for it). */
  ready(): Promise<unknown> {
    return this.#ready;
  }

  /**
   * Hold the abort switch of a run; `release` when the run is over. `signal` aborts on a cancel or
   * when `parent` (the worker's own shutdown signal) aborts; `cancelled()` tells the two apart.
   * (One listener on the parent instead of `AbortSignal.any`: cheaper on the hot path.)
   */
  track(tenantId: string, callId: string, parent?: AbortSignal): { signal: AbortSignal; cancelled(): boolean; release(): void } {
    const controller = new AbortController();
    const entry = { tenantId, controller, cancelled: false };
    this.#runs.set(callId, entry);
    const early = this.#early.get(callId);
    if (early?.tenantId === tenantId) {
      this.#early.delete(callId);
      entry.cancelled = true;
      controller.abort(new Error('call cancelled'));
    }
    const onParent = () => controller.abort(parent?.reason);
    if (parent?.aborted) onParent();
    else parent?.addEventListener('abort', onParent, { once: true });
    return {
      signal: controller.signal,
      cancelled: () => entry.cancelled,
      release: () => {
        parent?.removeEventListener('abort', onParent);
        if (this.#runs.get(callId) === entry) this.#runs.delete(callId);
      },
    };
  }

  /** Abort this process's run of the call, if it holds one (also used when a write reveals the cancel). */
  abort(tenantId: string, callId: string): boolean {
    const run = this.#runs.get(callId);
    if (!run) this.#remember(tenantId, callId);
    if (!run || run.tenantId !== tenantId) return false;
    run.cancelled = true;
    run.controller.abort(new Error('call cancelled'));
    return true;
  }

  #remember(tenantId: string, callId: string): void {
    const now = Date.now();
    this.#early.set(callId, { tenantId, at: now });
    for (const [k, e] of this.#early) {
      if (now - e.at <= EARLY_CANCEL_KEEP_MS && this.#early.size <= 1_000) break;
      this.#early.delete(k);
    }
  }

  async close(): Promise<void> {
    await this.#sub.quit().catch(() => undefined);
  }
}
