import { connect, createServer, type Server, type Socket } from 'node:net';

/** A loopback TCP proxy we can take down and bring back: "Redis is unavailable" without stopping Redis. */
export async function startTcpProxy(target: { host: string; port: number }) {
  const sockets = new Set<Socket>();
  let server: Server | undefined;
  let port = 0;
  /** Blackhole mode: connections are accepted and then hang (no upstream, no answer). */
  let stalled = false;
  const listen = () =>
    new Promise<void>((resolve, reject) => {
      if (server?.listening) return resolve();
      server = createServer((client) => {
        if (stalled) {
          sockets.add(client);
          client.on('close', () => sockets.delete(client));
          client.on('error', () => client.destroy());
          return;
        }
        const upstream = connect(target.port, target.host);
        for (const s of [client, upstream]) {
          sockets.add(s);
          s.on('close', () => sockets.delete(s));
          s.on('error', () => s.destroy());
        }
        client.pipe(upstream).pipe(client);
        client.on('close', () => upstream.destroy());
        upstream.on('close', () => client.destroy());
      });
      server.once('error', reject);
      server.listen(port, '127.0.0.1', () => {
        port = (server!.address() as { port: number }).port;
        resolve();
      });
    });
  await listen();
  return {
    get port() {
      return port;
    },
    /** Refuse new connections and cut the open ones. */
    async down() {
      await new Promise<void>((resolve) => {
        server?.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
    up: listen,
    /** Cut open connections; new ones are accepted but never answered (a blackholed network). */
    stall() {
      stalled = true;
      for (const s of sockets) s.destroy();
    },
    /** Leave blackhole mode: new connections reach the target again. */
    unstall() {
      stalled = false;
    },
    close() {
      return this.down();
    },
  };
}
