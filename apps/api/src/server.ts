import type { Server } from 'node:http';
import { oldestPendingCalls, reconcileOnce, sampleQueue } from '@mcprt/calls';
import { openProcess, serveMetrics, startLoop, type Loop, type ProcessOptions } from '@mcprt/bootstrap';
import type { ApiConfig } from '@mcprt/config';
import { createApp } from './app.js';
import { startOidcSweeper } from './auth-server/sweeper.js';
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

/** Start the API (used by main.ts, the tests and the benchmark). `reconciler: false`: no reconciler loop in this process. */
export async function startApi(config: ApiConfig, opts: ProcessOptions & { reconciler?: boolean } = {}): Promise<RunningApi> {
  const resources = createApiResources(await openProcess('api', config, opts));
  // Read at scrape time (the API holds the queue and runs the reconciler): queue depth and age, oldest pending calls.
  resources.metrics.sampled.queue(() => sampleQueue(resources.producer.queue, resources.redis));
  resources.metrics.sampled.pendingCalls(() => oldestPendingCalls(resources.db.db));
  let draining = false;
  const drain = new AbortController();
  resources.drain = drain.signal;
  const server = createApp(resources, { isDraining: () => draining }).listen(config.PORT, config.HOST);
  const inFlight = countInFlight(server);
  await new Promise<void>((resolve, reject) => server.once('listening', resolve).once('error', reject));
  const addr = server.address();
  const url = typeof addr === 'object' && addr ? `http://${config.HOST}:${addr.port}` : config.PUBLIC_URL;
  const metrics = await serveMetrics(resources.metrics.registry, { port: config.METRICS_PORT, host: config.METRICS_HOST }).catch((err: unknown) => {
    server.close();
    throw err;
  });
  const loops = startLoops(resources, opts.reconciler !== false);
  resources.log.info({ url, publicUrl: config.PUBLIC_URL, metricsUrl: metrics?.url }, 'api listening');
  return {
    url,
    resources,
    server,
    metricsUrl: metrics?.url,
    async stop() {
      if (draining) return;
      draining = true;
      // No new pass starts; one under way finishes while requests drain, before the pools close.
      const loopsStopped = Promise.all(loops.map((l) => l.stop()));
      await drainHttp(server, config, drain, inFlight);
      await loopsStopped;
      metrics?.close();
      await resources.close();
    },
  };
}

/** The API's background loops: the reconciler (recorded calls that never reached the queue) and the authorization-server sweeper. */
function startLoops(r: ApiResources, reconciler: boolean): Loop[] {
  const loops: Loop[] = [startOidcSweeper(r.db.db, r.log, 60_000, r.metrics.loopFailures)];
  if (reconciler)
    loops.push(
      startLoop({
        name: 'reconcile pass',
        intervalMs: r.config.RECONCILE_INTERVAL_MS,
        run: () => reconcileOnce(r),
        log: r.log,
        failures: r.metrics.loopFailures,
        // Passes fail while Redis is away; the outage itself is logged once by the outage log.
        failureLevel: 'debug',
      }),
    );
  return loops;
}

/** Requests being answered (probes included): the drain waits for them. */
function countInFlight(server: Server): { idle(): Promise<void> } {
  let n = 0;
  let settled: (() => void) | undefined;
  server.on('request', (_req, res) => {
    n++;
    res.once('close', () => {
      if (--n === 0) settled?.();
    });
  });
  return {
    idle: () =>
      new Promise<void>((resolve) => {
        settled = resolve;
        if (n === 0) resolve();
      }),
  };
}

/**
 * The drain protocol (docs/operations.md): /readyz fails at once and the listener stays open, so
 * load balancers see it; new requests are refused (503, Retry-After) and every answer carries
 * `Connection: close`; requests in flight finish — a tools/call still waiting for its worker near
 * the end of the grace answers with its call id — and only then the listener closes. Idle
 * keep-alive connections are closed at once.
 */
async function drainHttp(
  server: Server,
  config: Pick<ApiConfig, 'SHUTDOWN_GRACE_MS' | 'SHUTDOWN_READY_DELAY_MS'>,
  drain: AbortController,
  inFlight: { idle(): Promise<void> },
): Promise<void> {
  const start = Date.now();
  const grace = config.SHUTDOWN_GRACE_MS;
  server.closeIdleConnections();
  const cut = setTimeout(() => drain.abort(), Math.max(0, grace - Math.min(2_000, grace / 2)));
  const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.max(0, ms)));
  // Readiness failing for at least SHUTDOWN_READY_DELAY_MS, then until nothing is in flight (or the grace ends).
  await sleep(Math.min(config.SHUTDOWN_READY_DELAY_MS, grace));
  await Promise.race([inFlight.idle(), sleep(grace - (Date.now() - start))]);
  clearTimeout(cut);
  await new Promise<void>((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}
