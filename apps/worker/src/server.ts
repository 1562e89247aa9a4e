import { createServer, type Server } from 'node:http';
import type { Config } from '@mcprt/config';
import { checkAppRole, runMigrations } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';
import { createWorkerResources, type WorkerResources } from './resources.js';
import { startCheckpointer } from './audit-checkpointer.js';
import { startRetention } from './retention-job.js';
import { startToolWorker } from './worker.js';

export interface RunningWorker {
  resources: WorkerResources;
  /** Stop taking jobs, let active ones finish (BullMQ's close waits for them), then close pools. */
  stop(): Promise<void>;
}

export async function startWorker(config: Config, opts: { log?: Logger; migrate?: boolean } = {}): Promise<RunningWorker> {
  // Development and tests may migrate at start with the owner's URL; production migrates as a separate job.
  if (opts.migrate !== false && config.MIGRATE_DATABASE_URL) await runMigrations(config.MIGRATE_DATABASE_URL, { appUrl: config.DATABASE_URL });
  const resources = createWorkerResources(config, opts);
  await checkAppRole(resources.db.sql, { production: config.NODE_ENV === 'production', warn: (msg, problems) => resources.log.warn({ problems }, msg) }).catch(
    async (e: unknown) => {
      await resources.close();
      throw e;
    },
  );
  // Ports first: a worker that cannot bind its metrics port must fail before it takes any job.
  const metrics = config.WORKER_METRICS_PORT
    ? await serveMetrics(resources, config.WORKER_METRICS_PORT, config.HOST).catch(async (e: unknown) => {
        await resources.close();
        throw e;
      })
    : undefined;
  const worker = startToolWorker(resources);
  await worker.waitUntilReady();
  // Background jobs (docs/audit.md): off the call path, each tenant handled by one worker at a time.
  const log = resources.log;
  const checkpointer =
    config.AUDIT_CHECKPOINT_INTERVAL_MS > 0
      ? startCheckpointer({
          sql: resources.db.sql,
          keyring: resources.keyring,
          maxRows: config.AUDIT_CHECKPOINT_MAX_ROWS,
          settleMs: config.AUDIT_CHECKPOINT_SETTLE_MS,
          intervalMs: config.AUDIT_CHECKPOINT_INTERVAL_MS,
          log,
          integrityFailures: resources.metrics.auditIntegrityFailures,
        })
      : undefined;
  const retention =
    config.RETENTION_INTERVAL_MS > 0
      ? startRetention({
          sql: resources.db.sql,
          batch: config.RETENTION_BATCH,
          intervalMs: config.RETENTION_INTERVAL_MS,
          log,
          integrityFailures: resources.metrics.auditIntegrityFailures,
        })
      : undefined;
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
      await checkpointer?.stop();
      await retention?.stop();
      metrics?.close();
      await resources.close();
    },
  };
}

/** Prometheus scrape target for a worker (the API serves its own at /metrics). */
async function serveMetrics(r: WorkerResources, port: number, host: string): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.url === '/metrics') {
      void r.metrics.registry.metrics().then((body) => res.writeHead(200, { 'content-type': r.metrics.registry.contentType }).end(body));
    } else if (req.url === '/healthz') {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
    } else {
      res.writeHead(404).end();
    }
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.removeListener('error', reject);
      resolve();
    });
  });
  return server;
}
