/**
 * The plumbing shared by the Gmail, Calendar and GitHub doubles: a node:http server on 127.0.0.1,
 * bearer tokens mapped to per-user fixture data and scopes, a record of every request, and failures a
 * test scripts per request (status, delay, oversized or malformed body, redirect).
 *
 * Each double supplies its routes as a plain function `(request, account) → Reply` and the one
 * function that writes its API's own error body; this module never invents an API shape.
 * The server only *answers*: it makes no outbound request of any kind, so a scripted redirect to a
 * private address is a `Location` header and nothing more.
 */
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface DoubleRequestRecord {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: Record<string, string | undefined>;
  /** The bearer token presented, if any. */
  token: string | undefined;
}

/** What a route answers; the plumbing serialises it (JSON unless `raw` is given). */
export interface Reply {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
  /** Non-JSON bytes (e.g. GitHub's raw media type); sent as is with `headers['content-type']`. */
  raw?: Buffer;
}

/** A failure scripted by a test. Every field is optional; see `applyFailure` for the order. */
export interface Failure {
  /** Which requests it applies to; absent = any request. `path` is matched against the path without query. */
  match?: { path?: string | RegExp; token?: string; method?: string };
  /** Wait this long before answering (whatever the answer is). */
  delayMs?: number;
  /** Answer this status with the API's own error body (401, 403, 404, 429, 500, …). */
  status?: number;
  /** `Retry-After` header (seconds, or an HTTP-date string). */
  retryAfter?: number | string;
  /** Replaces the error body's message. */
  message?: string;
  /** Extra response headers, added to whatever answer goes out (also to a normal answer). */
  headers?: Record<string, string>;
  /**
   * Answer the normal 200 body, padded with JSON whitespace to `bytes` (still valid JSON, same shape).
   * The body is streamed; `contentLength: true` also declares its length up front.
   */
  oversized?: { bytes: number; contentLength?: boolean };
  /** Answer the normal status and JSON content type with the body cut in half (never parses). */
  malformedJson?: boolean;
  /** Answer `redirectStatus` (default 302) with this `Location` and an empty body. Never followed here. */
  redirect?: string;
  redirectStatus?: 301 | 302 | 303 | 307 | 308;
}

export interface Account<D> {
  /** The token first registered for this user (`addUser`); other tokens share the same data. */
  userToken: string;
  data: D;
}

export interface TokenGrant<D> {
  account: Account<D>;
  scopes: string[];
}

export type AuthResult<D> = { ok: true; grant: TokenGrant<D> } | { ok: false; reason: 'missing' | 'invalid' | 'revoked' };

export interface DoubleControls<D, F extends Failure> {
  /** Base URL, e.g. `http://127.0.0.1:40123` (no trailing slash). */
  url: string;
  /** Every request received, in order, including refused and failed ones. */
  requests: DoubleRequestRecord[];
  /** Registers a user and their first token. */
  addUser(token: string, user: { scopes: string[]; data: D }): void;
  /** Another token for an existing user (same data), e.g. one with fewer scopes. */
  addToken(token: string, grant: { sameUserAs: string; scopes: string[] }): void;
  setScopes(token: string, scopes: string[]): void;
  /** The token answers 401 from now on (as a revoked or expired upstream token does). */
  revoke(token: string): void;
  /**
   * Trust tokens the provider's own token endpoint issued, as the real API does (a refreshed Google
   * token is accepted by Gmail without anyone registering it): a token this double does not know is
   * handed to `resolve` once, and if it names the user it belongs to (`sameUserAs`: a token already
   * registered for them), it is registered with `scopes` (default: that token's). Unknown to
   * `resolve` too: 401 as before.
   */
  acceptIssuedTokens(resolve: (token: string) => Promise<{ sameUserAs: string; scopes?: string[] } | undefined>): void;
  /** The data behind a token, to edit fixtures mid-test. */
  dataOf(token: string): D;
  /** The next `times` (default 1) matching requests get this failure; queued failures apply first-in first-out. */
  failNext(failure: F, times?: number): void;
  /** Every matching request gets this failure until the returned function (or `clearFailures`) removes it. */
  failAlways(failure: F): () => void;
  clearFailures(): void;
  /** Requests being answered now, and the most at once since the start (or `resetConcurrency`): bounded-concurrency checks. */
  concurrency(): { inFlight: number; max: number };
  resetConcurrency(): void;
  close(): Promise<void>;
}

export interface HttpDoubleSpec<D, F extends Failure> {
  port?: number | undefined;
  /** The normal answer. Throwing a `Reply` (see `replyError`) answers it. */
  route(req: DoubleRequestRecord, auth: AuthResult<D>, baseUrl: string): Reply | Promise<Reply>;
  /** The API's own error answer for a scripted `status`. */
  failureReply(failure: F & { status: number }, req: DoubleRequestRecord, auth: AuthResult<D>): Reply;
  /** Adds headers every answer carries (GitHub's rate-limit headers). */
  decorate?(reply: Reply, req: DoubleRequestRecord, auth: AuthResult<D>): void;
}

/** Thrown by routes to answer an error; keeps route code linear. */
export class ReplyError extends Error {
  constructor(readonly reply: Reply) {
    super(`reply ${reply.status}`);
  }
}

const PAD_CHUNK = Buffer.alloc(64 * 1024, 0x20);

export async function startHttpDouble<D, F extends Failure>(spec: HttpDoubleSpec<D, F>): Promise<DoubleControls<D, F>> {
  const requests: DoubleRequestRecord[] = [];
  const grants = new Map<string, TokenGrant<D> & { revoked: boolean }>();
  const queued: Array<{ failure: F; left: number }> = [];
  const always = new Set<F>();
  const timers = new Set<NodeJS.Timeout>();
  let baseUrl = '';
  let inFlight = 0;
  let maxInFlight = 0;

  const server = createServer((req, res) => {
    inFlight += 1;
    maxInFlight = Math.max(maxInFlight, inFlight);
    void handle(req, res)
      .catch(() => {
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('double crashed');
      })
      .finally(() => (inFlight -= 1));
  });

  let resolveIssued: ((token: string) => Promise<{ sameUserAs: string; scopes?: string[] } | undefined>) | undefined;
  const resolved = new Set<string>();

  async function authenticate(token: string | undefined): Promise<AuthResult<D>> {
    if (token === undefined) return { ok: false, reason: 'missing' };
    if (!grants.has(token) && resolveIssued && !resolved.has(token)) {
      resolved.add(token);
      const owner = await resolveIssued(token).catch(() => undefined);
      const of = owner ? grants.get(owner.sameUserAs) : undefined;
      if (of && !grants.has(token)) grants.set(token, { account: of.account, scopes: [...(owner!.scopes ?? of.scopes)], revoked: false });
    }
    const grant = grants.get(token);
    if (!grant) return { ok: false, reason: 'invalid' };
    if (grant.revoked) return { ok: false, reason: 'revoked' };
    return { ok: true, grant };
  }

  function takeFailure(record: DoubleRequestRecord): F | undefined {
    const index = queued.findIndex((q) => matches(q.failure, record));
    if (index >= 0) {
      const entry = queued[index]!;
      entry.left -= 1;
      if (entry.left <= 0) queued.splice(index, 1);
      return entry.failure;
    }
    for (const failure of always) if (matches(failure, record)) return failure;
    return undefined;
  }

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    for await (const _chunk of req); // drain: every route is a GET, bodies are ignored
    const url = new URL(req.url ?? '/', 'http://double.invalid');
    const record: DoubleRequestRecord = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: flattenHeaders(req),
      token: /^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1],
    };
    requests.push(record);
    const auth = await authenticate(record.token);
    const failure = takeFailure(record);

    if (failure?.delayMs) {
      // Waits out the delay, or less if the client goes away (an aborted call must not hold the double).
      await new Promise<void>((resolve) => {
        const done = (): void => {
          clearTimeout(timer);
          timers.delete(timer);
          res.off('close', done);
          resolve();
        };
        const timer = setTimeout(done, failure.delayMs);
        timers.add(timer);
        res.once('close', done);
      });
      if (res.destroyed || !res.socket || res.socket.destroyed) return;
    }

    let reply: Reply;
    if (failure?.redirect !== undefined) {
      reply = { status: failure.redirectStatus ?? 302, headers: { location: failure.redirect } };
    } else if (failure?.status !== undefined) {
      reply = spec.failureReply(failure as F & { status: number }, record, auth);
    } else {
      try {
        reply = await spec.route(record, auth, baseUrl);
      } catch (err) {
        if (!(err instanceof ReplyError)) throw err;
        reply = err.reply;
      }
    }
    spec.decorate?.(reply, record, auth);
    if (failure?.retryAfter !== undefined) reply.headers = { ...reply.headers, 'retry-after': String(failure.retryAfter) };
    if (failure?.headers) reply.headers = { ...reply.headers, ...failure.headers };
    await send(res, reply, failure);
  }

  const port = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(spec.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
  baseUrl = `http://127.0.0.1:${port}`;

  const grantOf = (token: string): TokenGrant<D> & { revoked: boolean } => {
    const grant = grants.get(token);
    if (!grant) throw new Error(`unknown token ${token}`);
    return grant;
  };

  let closing: Promise<void> | undefined;
  return {
    url: baseUrl,
    requests,
    addUser(token, user) {
      if (grants.has(token)) throw new Error(`token ${token} already registered`);
      grants.set(token, { account: { userToken: token, data: user.data }, scopes: [...user.scopes], revoked: false });
    },
    addToken(token, grant) {
      if (grants.has(token)) throw new Error(`token ${token} already registered`);
      grants.set(token, { account: grantOf(grant.sameUserAs).account, scopes: [...grant.scopes], revoked: false });
    },
    setScopes(token, scopes) {
      grantOf(token).scopes = [...scopes];
    },
    revoke(token) {
      grantOf(token).revoked = true;
    },
    acceptIssuedTokens(resolve) {
      resolveIssued = resolve;
    },
    dataOf: (token) => grantOf(token).account.data,
    failNext(failure, times = 1) {
      queued.push({ failure, left: times });
    },
    failAlways(failure) {
      always.add(failure);
      return () => void always.delete(failure);
    },
    clearFailures() {
      queued.length = 0;
      always.clear();
    },
    concurrency: () => ({ inFlight, max: maxInFlight }),
    resetConcurrency() {
      maxInFlight = inFlight;
    },
    close: () =>
      (closing ??= new Promise<void>((resolve, reject) => {
        for (const timer of timers) clearTimeout(timer);
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      })),
  };
}

function matches(failure: Failure, record: DoubleRequestRecord): boolean {
  const m = failure.match;
  if (!m) return true;
  if (m.method !== undefined && m.method.toUpperCase() !== record.method) return false;
  if (m.token !== undefined && m.token !== record.token) return false;
  if (typeof m.path === 'string' && m.path !== record.path) return false;
  if (m.path instanceof RegExp && !m.path.test(record.path)) return false;
  return true;
}

async function send(res: ServerResponse, reply: Reply, failure: Failure | undefined): Promise<void> {
  const isJson = reply.raw === undefined && reply.body !== undefined;
  let payload = reply.raw ?? (isJson ? Buffer.from(JSON.stringify(reply.body)) : Buffer.alloc(0));
  const headers: Record<string, string | number> = { ...(isJson ? { 'content-type': 'application/json; charset=UTF-8' } : {}), ...reply.headers };

  if (failure?.malformedJson) payload = payload.subarray(0, Math.floor(payload.length / 2));
  const oversized = failure?.oversized;
  if (!oversized || oversized.bytes <= payload.length) {
    res.writeHead(reply.status, { ...headers, 'content-length': payload.length });
    res.end(payload);
    return;
  }
  // Streamed in chunks so a client that stops reading at its cap is not fed the whole body.
  if (oversized.contentLength) headers['content-length'] = oversized.bytes;
  res.writeHead(reply.status, headers);
  let left = oversized.bytes - payload.length;
  if (!res.write(payload)) await drained(res);
  while (left > 0 && !res.destroyed) {
    const chunk = left >= PAD_CHUNK.length ? PAD_CHUNK : PAD_CHUNK.subarray(0, left);
    left -= chunk.length;
    if (!res.write(chunk)) await drained(res);
  }
  res.end();
}

function drained(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done);
      res.off('close', done);
      resolve();
    };
    res.on('drain', done);
    res.on('close', done);
  });
}

function flattenHeaders(req: IncomingMessage): Record<string, string | undefined> {
  const out: Record<string, string | undefined> = {};
  for (const [name, value] of Object.entries(req.headers)) {
    out[name] = Array.isArray(value) ? value.join(', ') : value;
  }
  return out;
}

/** Offset-based opaque page tokens; an unreadable token is the caller's 400. */
export function encodePageToken(offset: number): string {
  return Buffer.from(`page:${offset}`).toString('base64url');
}

export function decodePageToken(token: string | null): number | undefined {
  if (token === null) return 0;
  const match = /^page:(\d+)$/.exec(Buffer.from(token, 'base64url').toString('utf8'));
  return match ? Number(match[1]) : undefined;
}
