import type { Config } from '@mcprt/config';
import { runMigrations } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';
import { createWorkerResources, type WorkerResources } from './resources.js';
import { startToolWorker } from './worker.js';

export interface RunningWorker {
  resources: WorkerResources;
  /** Stop taking jobs, let active ones finish (BullMQ's close waits for them), then close pools. */
  stop(): Promise<void>;
}

export async function startWorker(config: Config, opts: { log?: Logger; migrate?: boolean } = {}): Promise<RunningWorker> {
  if (opts.migrate !== false) await runMigrations(config.DATABASE_URL);
  const resources = createWorkerResources(config, opts);
  const worker = startToolWorker(resources);
  await worker.waitUntilReady();
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
      await resources.close();
    },
  };
}
