import { auditCheckpointLagSeconds, createCheckpointer, retentionTick } from '@mcprt/audit';
import { openProcess, serveMetrics, startLoop, type Loop, type ProcessOptions } from '@mcprt/bootstrap';
import type { WorkerConfig } from '@mcprt/config';
import { createWorkerResources, type WorkerResources } from './resources.js';
import { watchFetchLoop } from './fetch-watch.js';
import { startToolWorker } from './worker.js';

export interface RunningWorker {
  resources: WorkerResources;
  /** Stop taking jobs, let active ones finish (BullMQ's close waits for them), then close pools. */
  stop(): Promise<void>;
}

export async function startWorker(config: WorkerConfig, opts: ProcessOptions = {}): Promise<RunningWorker> {
  const resources = createWorkerResources(await openProcess('worker', config, opts));
  // Ports first: a worker that cannot bind its metrics port must fail before it takes any job.
  const metrics = await serveMetrics(resources.metrics.registry, { port: config.WORKER_METRICS_PORT, host: config.HOST, healthz: true }).catch(
    async (e: unknown) => {
      await resources.close();
      throw e;
    },
  );
  // Read at scrape time: how far the audit checkpointer is behind (mcprt_audit_checkpoint_lag_seconds).
  resources.metrics.sampled.auditCheckpointLag(() => auditCheckpointLagSeconds(resources.db.sql));
  // The tool worker, replaced by a new one if its fetch loop is found stuck (fetch-watch.ts).
  const worker = watchFetchLoop(resources, (hooks) => startToolWorker(resources, hooks), {
    checkMs: Math.max(500, Math.floor(config.WORKER_FETCH_WATCH_MS / 4)),
    wedgeMs: config.WORKER_FETCH_WATCH_MS,
  });
  await worker.waitUntilReady();
  const loops = startLoops(resources);
  resources.log.info({ concurrency: config.WORKER_CONCURRENCY }, 'worker ready');
  return {
    resources,
    async stop() {
      const force = setTimeout(() => {
        // Past the grace: abort running tools; their jobs are retried by another worker.
        worker.cancelAllJobs('shutdown');
      }, config.SHUTDOWN_GRACE_MS);
      force.unref();
      await worker.close();
      clearTimeout(force);
      await Promise.all(loops.map((l) => l.stop()));
      metrics?.close();
      await resources.close();
    },
  };
}

/**
 * The worker's background jobs (docs/audit.md), off the call path, each tenant handled by one worker
 * at a time: the audit checkpointer seals newly appended audit rows, the retention job removes what
 * is past its retention (an interval of 0 turns either off), and the approval sweep fails the calls
 * whose approval deadline passed.
 */
function startLoops(r: WorkerResources): Loop[] {
  const { config, log } = r;
  const integrityFailures = r.metrics.auditIntegrityFailures;
  const loops: Loop[] = [];
  if (config.AUDIT_CHECKPOINT_INTERVAL_MS > 0) {
    const deps = {
      sql: r.db.sql,
      keyring: r.keyring,
      maxRows: config.AUDIT_CHECKPOINT_MAX_ROWS,
      settleMs: config.AUDIT_CHECKPOINT_SETTLE_MS,
      log,
      integrityFailures,
    };
    // One instance for the worker's life: its ticks read only the audit rows appended since the previous one.
    const checkpointer = createCheckpointer(deps);
    const run = async () => {
      const done = await checkpointer.tick();
      if (done.checkpoints) log.info({ ...done }, 'audit checkpoints written');
    };
    loops.push(startLoop({ name: 'audit checkpoint tick', intervalMs: config.AUDIT_CHECKPOINT_INTERVAL_MS, run, log, failures: r.metrics.loopFailures }));
  }
  if (config.RETENTION_INTERVAL_MS > 0) {
    const deps = { sql: r.db.sql, batch: config.RETENTION_BATCH, log, integrityFailures };
    const run = async () => {
      const done = await retentionTick(deps);
      if (done.calls || done.auditRows) log.info({ ...done }, 'retention removed expired rows');
    };
    loops.push(startLoop({ name: 'retention tick', intervalMs: config.RETENTION_INTERVAL_MS, run, log, failures: r.metrics.loopFailures }));
  }
  // Calls held for approval, and tasks waiting for their client's answers, past their deadline fail
  // (`approval_expired`, `input_expired`) without ever running; each statement takes its due rows with
  // SKIP LOCKED, so several workers sweep without doing twice the work.
  const expire = async () => {
    const n = await r.db.calls.expireApprovals(500);
    if (n) log.info({ expired: n }, 'calls awaiting approval expired');
    const m = await r.db.calls.expireInputs(500);
    if (m) log.info({ expired: m }, 'tasks awaiting input expired');
  };
  loops.push(startLoop({ name: 'approval expiry', intervalMs: config.APPROVAL_SWEEP_MS, run: expire, log, failures: r.metrics.loopFailures }));
  return loops;
}
