import { Gauge, type Registry } from 'prom-client';
import { withTimeout } from './timeout.js';

/** How long one scrape waits for a sample before the gauge is left empty (or the dependency counted down). */
export const SAMPLE_TIMEOUT_MS = 2_000;

/**
 * One sample per scrape, shared by the gauges it feeds: a scrape collects each gauge in turn, and the
 * first asks while the later ones reuse the answer for a second. Never rejects (undefined: no sample).
 */
function shared<T>(read: () => Promise<T>): () => Promise<T | undefined> {
  let last: { at: number; value: Promise<T | undefined> } | undefined;
  return () => {
    if (last && Date.now() - last.at < 1_000) return last.value;
    const value = withTimeout(read(), SAMPLE_TIMEOUT_MS, 'the sample').catch(() => undefined);
    last = { at: Date.now(), value };
    return value;
  };
}

export interface QueueSample {
  /** Jobs per BullMQ state (wait, active, delayed, prioritized, …). */
  counts: Record<string, number>;
  /** Age of the oldest job in the wait list (since it was added), 0 when the list is empty. */
  oldestWaitingSeconds: number;
}

/**
 * Gauges read when Prometheus scrapes, registered only by the process that can read them (a gauge
 * nobody sets would export a misleading 0). A sample that fails or takes longer than
 * SAMPLE_TIMEOUT_MS leaves the gauge empty for that scrape, so a stale value is never served.
 */
export function sampledGauges(registry: Registry) {
  // `collect` answers whether it had a sample; without one the gauge exports no sample at all (a
  // gauge without labels would otherwise export 0 after its reset: a value nobody measured).
  const gauge = (name: string, help: string, labelNames: string[], collect: (g: Gauge) => Promise<boolean>) => {
    let sampled = true;
    const g = new Gauge({
      name,
      help,
      labelNames,
      registers: [registry],
      async collect() {
        this.reset();
        sampled = await collect(this);
      },
    });
    const get = g.get.bind(g);
    g.get = async () => {
      const metric = await get();
      return sampled ? metric : { ...metric, values: [] };
    };
  };
  return {
    /** mcprt_dependency_up{dependency}: 1 when the dependency answered a ping within the timeout. */
    dependencies(pings: Record<string, () => Promise<unknown>>) {
      gauge('mcprt_dependency_up', 'Whether this process reached the dependency (Postgres, Redis) at the last scrape', ['dependency'], async (g) => {
        await Promise.all(
          Object.entries(pings).map(async ([dependency, ping]) => {
            const ok = await withTimeout(ping(), SAMPLE_TIMEOUT_MS, 'the ping').then(
              () => 1,
              () => 0,
            );
            g.set({ dependency }, ok);
          }),
        );
        return true;
      });
    },
    /** The tool-call queue: mcprt_queue_jobs{state} and mcprt_queue_oldest_waiting_seconds. */
    queue(read: () => Promise<QueueSample>) {
      const sample = shared(read);
      gauge('mcprt_queue_jobs', 'Jobs in the tool-call queue by BullMQ state', ['state'], async (g) => {
        const s = await sample();
        for (const [state, n] of Object.entries(s?.counts ?? {})) g.set({ state }, n);
        return s !== undefined;
      });
      gauge('mcprt_queue_oldest_waiting_seconds', 'Age of the oldest job in the wait list (0: empty)', [], async (g) => {
        const s = await sample();
        if (s) g.set(s.oldestWaitingSeconds);
        return s !== undefined;
      });
    },
    /** mcprt_calls_oldest_pending_seconds{status}: how long the oldest queued / running call has been in that state. */
    pendingCalls(read: () => Promise<{ status: string; oldestSeconds: number }[]>) {
      const sample = shared(read);
      gauge('mcprt_calls_oldest_pending_seconds', 'Age of the oldest call still queued or running, by status (no series: none)', ['status'], async (g) => {
        const rows = await sample();
        for (const row of rows ?? []) g.set({ status: row.status }, row.oldestSeconds);
        return rows !== undefined;
      });
    },
    /** mcprt_audit_checkpoint_lag_seconds: age of the oldest audit row no checkpoint seals yet (0: all sealed). */
    auditCheckpointLag(read: () => Promise<number>) {
      const sample = shared(read);
      const help = 'Age of the oldest audit row not yet sealed by a checkpoint, over all tenants (0: all sealed)';
      gauge('mcprt_audit_checkpoint_lag_seconds', help, [], async (g) => {
        const lag = await sample();
        if (lag !== undefined) g.set(lag);
        return lag !== undefined;
      });
    },
  };
}

export type SampledGauges = ReturnType<typeof sampledGauges>;
