import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A loopback TCP proxy in front of the real Postgres that reads (never changes) what clients send
 * and records the text of every statement executed: simple queries ('Q') and extended-protocol
 * Executes ('E'), each resolved through its Bind ('B') and Parse ('P') to the SQL text. Tests point a
 * DATABASE_URL at it to count the queries a request really cost, with nothing mocked.
 */
export async function startPgQueryCounter(target: { host: string; port: number }) {
  const executed: string[] = [];
  const sockets = new Set<Socket>();
  const server: Server = createServer((client) => {
    const upstream = connect(target.port, target.host);
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => s.destroy());
    }
    const parser = frontendParser((sql) => executed.push(sql));
    client.on('data', parser);
    client.pipe(upstream).pipe(client);
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as { port: number }).port;
  return {
    port,
    /** `postgres://…` with host and port replaced by the proxy's. */
    urlFor(databaseUrl: string): string {
      const u = new URL(databaseUrl);
      u.hostname = '127.0.0.1';
      u.port = String(port);
      return u.toString();
    },
    /** SQL text of every statement executed so far, in order. */
    executed,
    /** The first executed statement that matches (to plan it as it was sent); throws when none does. */
    first(match: RegExp): string {
      const statement = executed.find((sql) => match.test(sql));
      if (!statement) throw new Error(`no statement matching ${match} was sent`);
      return statement;
    },
    /** How many executed statements match. */
    count(match: RegExp): number {
      return executed.filter((sql) => match.test(sql)).length;
    },
    reset(): void {
      executed.length = 0;
    },
    close(): Promise<void> {
      return new Promise((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      });
    },
  };
}

const SSL_REQUEST = 80877103;
const GSSENC_REQUEST = 80877104;

/** Frontend (client → server) message parser for one connection (PostgreSQL protocol 3). */
function frontendParser(onExecute: (sql: string) => void): (chunk: Buffer) => void {
  let buf: Buffer = Buffer.alloc(0);
  // Until the startup message: untyped messages (SSLRequest/GSSENCRequest may come first).
  let startup = true;
  const statements = new Map<string, string>();
  const portals = new Map<string, string>();
  const cstring = (b: Buffer, at: number): [string, number] => {
    const end = b.indexOf(0, at);
    return [b.toString('utf8', at, end), end + 1];
  };
  // One copy of each SQL text, however often it is parsed: the record of a flood stays small.
  const texts = new Map<string, string>();
  const intern = (sql: string) => texts.get(sql) ?? (texts.set(sql, sql), sql);
  return (chunk) => {
    buf = buf.length ? Buffer.concat([buf, chunk]) : chunk;
    for (;;) {
      if (startup) {
        if (buf.length < 8) return;
        const len = buf.readInt32BE(0);
        if (buf.length < len) return;
        const code = buf.readInt32BE(4);
        if (code !== SSL_REQUEST && code !== GSSENC_REQUEST) startup = false;
        buf = buf.subarray(len);
        continue;
      }
      if (buf.length < 5) return;
      const type = String.fromCharCode(buf[0]!);
      const len = buf.readInt32BE(1);
      if (buf.length < 1 + len) return;
      const body = buf.subarray(5, 1 + len);
      buf = buf.subarray(1 + len);
      if (type === 'Q') {
        onExecute(intern(cstring(body, 0)[0]));
      } else if (type === 'P') {
        const [name, at] = cstring(body, 0);
        statements.set(name, intern(cstring(body, at)[0]));
      } else if (type === 'B') {
        const [portal, at] = cstring(body, 0);
        portals.set(portal, statements.get(cstring(body, at)[0]) ?? '');
      } else if (type === 'E') {
        onExecute(portals.get(cstring(body, 0)[0]) ?? '');
      } else if (type === 'C' && body[0] === 0x53 /* 'S': close statement */) {
        statements.delete(cstring(body, 1)[0]);
      }
    }
  };
}
