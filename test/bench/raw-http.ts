import net from 'node:net';

/**
 * The benchmark's load generator: JSON-RPC over HTTP/1.1 keep-alive on a plain socket, one request
 * at a time per connection (like wrk). It only frames requests and reads `Content-Length` or chunked
 * bodies (the API answers with a length; the peer's `node:http` bridge streams chunks), so almost all
 * of the machine's CPU goes to the system under test; node:http's client costs several times more
 * per request. Not a general HTTP client: no trailers, no redirects.
 */
export class RawHttpConnection {
  readonly #socket: net.Socket;
  readonly #head: string;
  #buf: Buffer = Buffer.alloc(0);
  #pending: { resolve(r: { status: number; body: string }): void; reject(e: Error): void } | undefined;
  #error: Error | undefined;

  constructor(url: URL, headers: Record<string, string>) {
    this.#socket = net.connect(Number(url.port || 80), url.hostname);
    this.#socket.setNoDelay(true);
    const lines = [`POST ${url.pathname}${url.search} HTTP/1.1`, `host: ${url.host}`, 'connection: keep-alive'];
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    this.#head = lines.join('\r\n');
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    const fail = (e: Error) => {
      this.#error ??= e;
      this.#pending?.reject(e);
      this.#pending = undefined;
    };
    this.#socket.on('error', fail);
    this.#socket.on('close', () => fail(new Error('connection closed')));
  }

  /** The socket failed or the server closed it (e.g. its keep-alive timeout while idle): not reusable. */
  get closed(): boolean {
    return this.#error !== undefined;
  }

  post(body: string): Promise<{ status: number; body: string }> {
    if (this.#error) return Promise.reject(this.#error);
    if (this.#pending) return Promise.reject(new Error('one request at a time per connection'));
    return new Promise((resolve, reject) => {
      this.#pending = { resolve, reject };
      this.#socket.write(`${this.#head}\r\ncontent-length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  }

  #onData(chunk: Buffer): void {
    this.#buf = this.#buf.length ? Buffer.concat([this.#buf, chunk]) : chunk;
    const end = this.#buf.indexOf('\r\n\r\n');
    if (end < 0) return;
    const head = this.#buf.subarray(0, end).toString('latin1');
    const status = Number(head.slice(9, 12));
    const length = /\r\ncontent-length: *(\d+)/i.exec(head);
    let body: string;
    let total: number;
    if (length) {
      total = end + 4 + Number(length[1]);
      if (this.#buf.length < total) return;
      body = this.#buf.subarray(end + 4, total).toString('utf8');
    } else if (/\r\ntransfer-encoding: *chunked/i.test(head)) {
      const chunked = readChunked(this.#buf, end + 4);
      if (!chunked) return;
      if (chunked === 'malformed') {
        this.#socket.destroy(new Error(`malformed chunked body (HTTP ${status})`));
        return;
      }
      ({ body, total } = chunked);
    } else {
      this.#socket.destroy(new Error(`response without content-length or chunked body (HTTP ${status})`));
      return;
    }
    this.#buf = this.#buf.subarray(total);
    const p = this.#pending;
    this.#pending = undefined;
    p?.resolve({ status, body });
  }

  close(): void {
    this.#socket.destroy();
  }
}

/** A whole chunked body from `start` (undefined until its last chunk has arrived): the body and where it ends. */
function readChunked(buf: Buffer, start: number): { body: string; total: number } | 'malformed' | undefined {
  const parts: Buffer[] = [];
  let at = start;
  for (;;) {
    const eol = buf.indexOf('\r\n', at);
    if (eol < 0) return undefined;
    const size = parseInt(buf.subarray(at, eol).toString('latin1'), 16);
    if (!Number.isFinite(size)) return 'malformed';
    if (buf.length < eol + 2 + size + 2) return undefined;
    if (size === 0) return { body: Buffer.concat(parts).toString('utf8'), total: eol + 4 };
    parts.push(buf.subarray(eol + 2, eol + 2 + size));
    at = eol + 2 + size + 2;
  }
}
