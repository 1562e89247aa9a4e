import { createRequire } from 'node:module';
import type { TracingConfig } from '@mcprt/config';
import { startTracing, tracingEnabled, type Logger, type Tracing } from '@mcprt/observability';

/**
 * Tracing for a process (API, worker, CLI): started from the OTEL_* settings before anything else
 * opens, so the Redis client is instrumented before its first command. Off (the default): nothing
 * is loaded and undefined is returned. An export failure is logged at debug, once per minute at most:
 * a collector that is away never holds up or fails a call.
 */
export async function startProcessTracing(name: string, config: TracingConfig, log: Pick<Logger, 'debug'>): Promise<Tracing | undefined> {
  if (!tracingEnabled(config)) return undefined;
  const require = createRequire(import.meta.url);
  let lastReport = 0;
  return startTracing(config, {
    serviceName: `mcprt-${name}`,
    ioredis: { exports: require('ioredis'), version: (require('ioredis/package.json') as { version: string }).version },
    onError: (err) => {
      if (Date.now() - lastReport < 60_000) return;
      lastReport = Date.now();
      log.debug({ err: { name: err.name, message: err.message } }, 'trace export failed');
    },
  });
}
