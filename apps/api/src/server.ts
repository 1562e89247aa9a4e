import type { Server } from 'node:http';
import type { Config } from '@mcprt/config';
import { checkAppRole, runMigrations } from '@mcprt/db';
import { serveMetrics, type Logger } from '@mcprt/observability';
import { createApp } from './app.js';
import { startOidcSweeper } from './auth-server/sweeper.js';
import { startReconciler } from './calls/reconciler.js';
import { createApiResources, type ApiResources } from './resources.js';

export interface RunningApi {
  url: string;
  resources: ApiResources;
  server: Server;
  /** Where Prometheus scrapes (its own listener, never the public port); undefined when METRICS_PORT=0. */
  metricsUrl: string | undefined;
  /** Graceful stop: refuse new work, let in-flight requests finish (up to the grace), close pools. */
  stop(): Promise<void>;
}

/** Start the API (used by main.ts, the tests and the benchmark). */
export async function startApi(config: Config, opts: { log?: Logger; migrate?: boolean; reconciler?: boolean } = {}): Promise<RunningApi> {
  // Development and tests may migrate at start with the owner's URL; production migrates as a separate job.
  if (opts.migrate !== false && config.MIGRATE_DATABASE_URL) await runMigrations(config.MIGRATE_DATABASE_URL, { appUrl: config.DATABASE_URL });
  const resources = createApiResources(config, opts);
  await checkAppRole(resources.db.sql, { production: config.NODE_ENV === 'production', warn: (msg, problems) => resources.log.warn({ problems }, msg) }).catch(
    async (e: unknown) => {
      await resources.close();
      throw e;
    },
  );
  let draining = false;
  const app = createApp(resources, { isDraining: () => draining });
  const server = app.listen(config.PORT, config.HOST);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const addr = server.address();
  const url = typeof addr === 'object' && addr ? `http://${config.HOST}:${addr.port}` : config.PUBLIC_URL;
  const metricsServer = config.METRICS_PORT
    ? await serveMetrics(resources.metrics.registry, { port: config.METRICS_PORT, host: config.METRICS_HOST }).catch((err: unknown) => {
        server.close();
        throw err;
      })
    : undefined;
  const metricsAddr = metricsServer?.address();
  const metricsUrl = typeof metricsAddr === 'object' && metricsAddr ? `http://${config.METRICS_HOST}:${metricsAddr.port}/metrics` : undefined;
  const reconciler = opts.reconciler === false ? undefined : startReconciler(resources);
  const sweeper = startOidcSweeper(resources.db.db, resources.log);
  resources.log.info({ url, publicUrl: config.PUBLIC_URL, metricsUrl }, 'api listening');
  return {
    url,
    resources,
    server,
    metricsUrl,
    async stop() {
      draining = true;
      reconciler?.stop();
      sweeper.stop();
      await new Promise<void>((resolve) => {
        const force = setTimeout(() => {
          server.closeAllConnections();
          resolve();
        }, config.SHUTDOWN_GRACE_MS);
        server.close(() => {
          clearTimeout(force);
          resolve();
        });
        server.closeIdleConnections();
      });
      metricsServer?.close();
      await resources.close();
    },
  };
}
