import type { Server } from 'node:http';
import type { Config } from '@mcprt/config';
import { checkAppRole, runMigrations } from '@mcprt/db';
import { serveMetrics, type Logger } from '@mcprt/observability';
import { createApp } from './app.js';
import { startOidcSweeper } from './auth-server/sweeper.js';
import { startReconciler } from '@mcprt/calls';
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
  const drain = new AbortController();
  resources.drain = drain.signal;
  const app = createApp(resources, { isDraining: () => draining });
  const server = app.listen(config.PORT, config.HOST);
  // Requests being answered (probes included): the drain waits for them.
  let inFlight = 0;
  let settled: (() => void) | undefined;
  server.on('request', (_req, res) => {
    inFlight++;
    res.once('close', () => {
      if (--inFlight === 0) settled?.();
    });
  });
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
    /**
     * The drain protocol (docs/operations.md): /readyz fails at once and the listener stays open, so
     * load balancers see it; new requests are refused (503, Retry-After) and every answer carries
     * `Connection: close`; requests in flight finish — a tools/call still waiting for its worker near
     * the end of the grace answers with its call id — and only then the listener closes and the
     * process exits. Idle keep-alive connections are closed at once.
     */
    async stop() {
      if (draining) return;
      draining = true;
      reconciler?.stop();
      sweeper.stop();
      const start = Date.now();
      const grace = config.SHUTDOWN_GRACE_MS;
      server.closeIdleConnections();
      const cut = setTimeout(() => drain.abort(), Math.max(0, grace - Math.min(2_000, grace / 2)));
      const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
      // Readiness failing for at least SHUTDOWN_READY_DELAY_MS, then until nothing is in flight (or the grace ends).
      await sleep(Math.min(config.SHUTDOWN_READY_DELAY_MS, grace));
      await Promise.race([
        new Promise<void>((resolve) => {
          settled = resolve;
          if (inFlight === 0) resolve();
        }),
        sleep(grace - (Date.now() - start)),
      ]);
      clearTimeout(cut);
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      metricsServer?.close();
      await resources.close();
    },
  };
}
