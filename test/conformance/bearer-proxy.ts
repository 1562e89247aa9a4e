import { createServer, request, type Server } from 'node:http';

/**
 * The conformance suite's server runner sends no credentials (it has no token option), and our MCP
 * endpoint requires a bearer token. This local hop adds `Authorization: Bearer <token>` to each
 * request and passes everything else through unchanged, both ways (Host and Origin too, so the
 * API's own Host/Origin checks still judge what the suite sent; responses stream, for SSE).
 */
export async function startBearerProxy(target: URL, token: string, listenPort: number): Promise<{ port: number; close: () => Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const upstream = request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: { ...req.headers, authorization: `Bearer ${token}` } },
      (up) => {
        res.writeHead(up.statusCode ?? 502, up.headers);
        up.pipe(res);
      },
    );
    upstream.on('error', () => {
      if (!res.headersSent) res.writeHead(502);
      res.end();
    });
    res.on('close', () => upstream.destroy());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
