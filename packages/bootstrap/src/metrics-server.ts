import { createServer, type Server } from 'node:http';
import type { Metrics } from '@mcprt/observability';

export interface MetricsServer {
  /** Where Prometheus scrapes. */
  url: string;
  close(): void;
}

/**
 * Prometheus scrape target on its own listener: process metrics reveal tenants, tools and traffic,
 * so they are never served on the public port. Loopback by default; in a pod the operator binds it to
 * the pod network and leaves the port out of the public Service. With `healthz` it also answers
 * `/healthz` (the worker has no other listener for its probes). Port 0: no listener (undefined).
 * A port that cannot be bound rejects: the process must fail before it takes any work.
 */
export async function serveMetrics(registry: Metrics['registry'], opts: { port: number; host: string; healthz?: boolean }): Promise<MetricsServer | undefined> {
  if (!opts.port) return undefined;
  const server = createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method === 'GET' && path === '/healthz' && opts.healthz) {
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"status":"ok"}');
      return;
    }
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    );
  });
  await listen(server, opts.port, opts.host);
  const addr = server.address();
  const port = typeof addr === 'object' && addr ? addr.port : opts.port;
  return { url: `http://${opts.host}:${port}/metrics`, close: () => server.close() };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}
