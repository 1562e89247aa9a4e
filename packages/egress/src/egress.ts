import { lookup as dnsLookup } from 'node:dns/promises';
import { readFileSync } from 'node:fs';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import * as tls from 'node:tls';
import { AppError, isAppError } from '@mcprt/errors';
import ipaddr from 'ipaddr.js';
import { Agent, buildConnector, request as undiciRequest, type Dispatcher } from 'undici';
import { deadline } from './deadline.js';

/**
 * The one way the runtime reaches the network (DESIGN §5): tools, issuer discovery and JWKS alike.
 *
 * - Addresses: outside development and tests only public unicast addresses are reached. The check
 *   runs when the connection is made (a connector whose DNS lookup refuses the whole answer if any
 *   address in it is not public), so the address checked is the address connected to: no second
 *   resolution for a rebinding DNS server to answer differently. IP literals are checked the same way
 *   before connecting, and the connected socket's peer is checked once more.
 * - Redirects are followed by hand, a few hops, never from https to http; when the origin changes
 *   only harmless headers go along (credentials, API keys and cookies are dropped) and a request body
 *   never follows to another origin.
 * - Response bodies are capped while they stream; one deadline covers the whole exchange.
 * - Upstream failures are sorted into retryable and permanent.
 */
export interface Egress {
  request(url: string, init: EgressInit): Promise<EgressResponse>;
  /** Closes pooled connections. */
  close(): Promise<void>;
}

export interface EgressInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string | Uint8Array;
  signal: AbortSignal;
  timeoutMs?: number;
  /** Largest response body accepted, in bytes (default: the egress's `maxBodyBytes`). */
  maxBodyBytes?: number;
  /** Name used in error messages ("Scavio", "the identity provider"). */
  service: string;
  /** Refuse (`egress_refused`) a redirect to another origin instead of following it without credentials (authenticated API calls). */
  sameOriginRedirectsOnly?: boolean;
  /**
   * fetch's `redirect` mode: `follow` (default) follows as above; `manual` returns the 3xx answer as
   * it is, following nothing; `error` refuses any redirect (`egress_refused`).
   */
  redirect?: 'follow' | 'manual' | 'error';
}

export interface EgressResponse {
  status: number;
  headers: Headers;
  /** The body, at most `maxBodyBytes`. Each reader may be called once. */
  bytes(): Promise<Uint8Array>;
  text(): Promise<string>;
  json(): Promise<unknown>;
}

/** Resolves a host name to all its addresses (default: the system resolver, like `dns.lookup(all)`). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

export interface EgressOptions {
  /** Allow loopback and private addresses (tests and development, where doubles run on 127.0.0.1). */
  allowPrivate: boolean;
  defaultTimeoutMs?: number;
  maxRedirects?: number;
  /** Default cap on response bodies (1 MiB). */
  maxBodyBytes?: number;
  /** Name resolution used when connecting (tests inject one; default: the system resolver). */
  resolve?: Resolver;
  /** Certificate authorities trusted besides those Node trusts by default (PEM; see `trustedCertificates`). */
  extraCaPem?: string;
  /** The `NODE_EXTRA_CA_CERTS` file (configuration): kept trusted beside `extraCaPem` on a Node without `tls.getCACertificates`. */
  nodeExtraCaCerts?: string;
}

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that may follow a redirect to another origin; everything else (Authorization, API keys, cookies) is dropped. */
const CROSS_ORIGIN_SAFE_HEADERS = new Set(['accept', 'accept-language', 'user-agent', 'x-client-source']);
/** 2000::/3, the only IPv6 block with global unicast addresses. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * Whether an address may be reached from production: public unicast only. Uses ipaddr.js's range
 * table (loopback, private, carrier-grade NAT, link-local, multicast, broadcast, reserved 240/4,
 * documentation, benchmarking, unique-local, NAT64 64:ff9b::/96 and /48, 6to4, Teredo, …); IPv4-mapped
 * IPv6 is judged as the IPv4 address it carries; IPv6 outside 2000::/3 (e.g. IPv4-compatible ::a.b.c.d)
 * is refused. Anything that does not parse is refused.
 */
export function isPublicAddress(ip: string): boolean {
  if (!isIP(ip) || !ipaddr.isValid(ip)) return false;
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') return addr.range() === 'unicast';
  const v6 = addr as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().range() === 'unicast';
  return v6.range() === 'unicast' && v6.match(GLOBAL_UNICAST_V6);
}

export function isPrivateAddress(ip: string): boolean {
  return !isPublicAddress(ip);
}

const REFUSED = 'egress_refused';
const refused = (service: string, why: string) => new AppError('upstream', REFUSED, `${service} ${why}`, { retryable: false, expose: true });
const notPublic = (service: string) => refused(service, 'address is not public');

const systemResolver: Resolver = async (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * `lookup` for net/tls.connect: resolves once through `resolve` and refuses the answer if any address
 * in it is not public, so the connection can only go to an address that was checked.
 */
export function guardedLookup(resolve: Resolver, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    resolve(hostname).then(
      (answer) => {
        const usable = family ? answer.filter((a) => a.family === family) : answer;
        const first = usable[0];
        if (!first) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '', 0);
        // The whole answer, not just the first address: with happy eyeballs net may try any of them.
        if (!allowPrivate && !answer.every((a) => isPublicAddress(a.address))) return callback(notPublic(hostname), '', 0);
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/**
 * The CA certificates outbound TLS trusts when `EGRESS_EXTRA_CA_PEM` is set: everything Node trusts by
 * default — its bundled CAs, the CAs of `NODE_EXTRA_CA_CERTS` and, with `--use-system-ca`, the system
 * store — *plus* the extra PEM. Giving TLS a `ca` list replaces Node's defaults, and
 * `tls.rootCertificates` is only the bundled part: built from it, the list silently dropped the CAs of
 * `NODE_EXTRA_CA_CERTS`. `tls.getCACertificates('default')` (Node ≥ 22.15) is the exact default set;
 * older Node 22 gets the bundled CAs and the `NODE_EXTRA_CA_CERTS` file read the way Node reads it.
 */
export function trustedCertificates(extraCaPem: string, nodeExtraCaFile?: string): string[] {
  const getCa = (tls as { getCACertificates?: (type?: 'default' | 'system' | 'bundled' | 'extra') => string[] }).getCACertificates;
  const defaults = typeof getCa === 'function' ? getCa('default') : [...tls.rootCertificates, ...readCaFile(nodeExtraCaFile)];
  return [...defaults, extraCaPem];
}

/** The PEM file NODE_EXTRA_CA_CERTS names, if readable (Node itself only warns about one it cannot read). */
export function readCaFile(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return [readFileSync(file, 'utf8')];
  } catch {
    return [];
  }
}

/** undici connector: literals checked before connecting, names through the guarded lookup, the peer checked after. */
function guardedConnector(resolve: Resolver, allowPrivate: boolean, extraCaPem?: string, nodeExtraCaFile?: string): buildConnector.connector {
  const ca = extraCaPem ? { ca: trustedCertificates(extraCaPem, nodeExtraCaFile) } : {};
  const base = buildConnector({ lookup: guardedLookup(resolve, allowPrivate), timeout: 10_000, ...ca });
  return (options, callback) => {
    if (allowPrivate) return base(options, callback);
    if (isIP(options.hostname) && !isPublicAddress(options.hostname)) return callback(notPublic(options.hostname), null);
    base(options, (err, socket) => {
      if (err) return callback(err, null);
      const peer = (socket as Socket).remoteAddress ?? '';
      if (!isPublicAddress(peer)) {
        socket.destroy();
        return callback(notPublic(options.hostname), null);
      }
      callback(null, socket);
    });
  };
}

export function createEgress(opts: EgressOptions): Egress {
  const defaultTimeout = opts.defaultTimeoutMs ?? 10_000;
  const maxRedirects = opts.maxRedirects ?? 3;
  const defaultMaxBody = opts.maxBodyBytes ?? 1024 * 1024;
  const agent = new Agent({ connect: guardedConnector(opts.resolve ?? systemResolver, opts.allowPrivate, opts.extraCaPem, opts.nodeExtraCaCerts) });

  return {
    async request(url, init) {
      // One deadline for the whole exchange (redirects and body included); cleared when the body has
      // been read or the request failed.
      const { signal, clear } = deadline(init.signal, init.timeoutMs ?? defaultTimeout);
      const cap = init.maxBodyBytes ?? defaultMaxBody;
      try {
        let target: URL;
        try {
          target = new URL(url);
        } catch {
          throw refused(init.service, 'URL is not valid');
        }
        const res = await follow(target, init, signal);
        const headers = toHeaders(res.headers);
        const declared = Number(headers.get('content-length') ?? NaN);
        if (declared > cap) {
          res.body.destroy();
          throw tooLarge(init.service, cap);
        }
        let used = false;
        const bytes = async (): Promise<Uint8Array> => {
          if (used) throw new AppError('internal', 'body_used', `${init.service} response body already read`);
          used = true;
          try {
            return await readCapped(res.body, cap, init.service);
          } catch (cause) {
            if (isAppError(cause)) throw cause;
            throw fetchFailure(init, signal, cause, 'upstream_unreachable', 'failed while sending its response');
          } finally {
            clear();
          }
        };
        const text = async () => new TextDecoder().decode(await bytes());
        return {
          status: res.statusCode,
          headers,
          bytes,
          text,
          async json() {
            const body = await text();
            try {
              return JSON.parse(body) as unknown;
            } catch (cause) {
              throw new AppError('upstream', 'upstream_bad_response', `${init.service} answered with invalid JSON`, { cause, retryable: true, expose: true });
            }
          },
        };
      } catch (e) {
        clear();
        throw e;
      }
    },
    async close() {
      await agent.close();
    },
  };

  async function follow(start: URL, init: EgressInit, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
    let target = start;
    let method: 'GET' | 'POST' = init.method ?? 'GET';
    let body = init.body;
    let headers = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
    for (let hop = 0; ; hop++) {
      if (target.protocol !== 'https:' && target.protocol !== 'http:') throw refused(init.service, 'URL scheme is not http(s)');
      if (target.username || target.password) throw refused(init.service, 'URL must not carry credentials');
      // The connector checks again at connect time; this gives the clear error without starting one.
      const literal = target.hostname.replace(/^\[|\]$/g, '');
      if (!opts.allowPrivate && isIP(literal) && !isPublicAddress(literal)) throw notPublic(init.service);
      let res: Dispatcher.ResponseData;
      try {
        res = await undiciRequest(target, { method, headers, body, signal, dispatcher: agent });
      } catch (cause) {
        if (isAppError(cause) && cause.code === REFUSED) throw notPublic(init.service);
        throw fetchFailure(init, signal, cause, 'upstream_unreachable', 'cannot be reached');
      }
      const location = res.headers.location;
      if (!REDIRECTS.has(res.statusCode) || typeof location !== 'string' || init.redirect === 'manual') return res;
      if (init.redirect === 'error') {
        await res.body.dump().catch(() => undefined);
        throw refused(init.service, 'redirected; the request was not followed');
      }
      await res.body.dump().catch(() => undefined);
      if (hop >= maxRedirects) throw new AppError('upstream', 'upstream_redirect_loop', `${init.service} redirected too often`, { expose: true });
      let next: URL;
      try {
        next = new URL(location, target);
      } catch {
        throw new AppError('upstream', 'upstream_bad_response', `${init.service} redirected to an invalid URL`, { expose: true });
      }
      if (target.protocol === 'https:' && next.protocol !== 'https:') throw refused(init.service, 'redirected from https to an insecure URL');
      // Fetch semantics: 303 (and 301/302 after a POST) continue as a GET without the body.
      if (res.statusCode === 303 || ((res.statusCode === 301 || res.statusCode === 302) && method === 'POST')) {
        method = 'GET';
        body = undefined;
        delete headers['content-type'];
        delete headers['content-length'];
      }
      if (next.origin !== target.origin) {
        if (init.sameOriginRedirectsOnly) throw refused(init.service, 'redirected to another origin; the request was not followed');
        // Credentials belong to the origin they were issued for (DESIGN §5).
        headers = Object.fromEntries(Object.entries(headers).filter(([k]) => CROSS_ORIGIN_SAFE_HEADERS.has(k)));
        if (body !== undefined) throw refused(init.service, 'redirected a request with a body to another origin');
      }
      target = next;
    }
  }
}

/**
 * A fetch-compatible function on top of an egress, for libraries that take one (jose's and
 * openid-client's `customFetch`): same address rules, redirects, deadline and body cap.
 */
export function egressFetch(
  egress: Egress,
  service: string,
  limits: { timeoutMs?: number; maxBodyBytes?: number; sameOriginRedirectsOnly?: boolean } = {},
): (
  url: string,
  init?: { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; body?: unknown; signal?: AbortSignal | null; redirect?: string },
) => Promise<Response> {
  return async (url, init = {}) => {
    const method = (init.method ?? 'GET').toUpperCase();
    if (method !== 'GET' && method !== 'POST') throw refused(service, `request method ${method} is not supported`);
    const b = init.body;
    let body: string | Uint8Array | undefined;
    if (b === undefined || b === null) body = undefined;
    else if (typeof b === 'string') body = b;
    else if (b instanceof URLSearchParams) body = b.toString();
    else if (b instanceof Uint8Array) body = b;
    else if (b instanceof ArrayBuffer) body = new Uint8Array(b);
    else throw refused(service, 'request body type is not supported');
    const res = await egress.request(url, {
      method,
      headers: Object.fromEntries(new Headers(init.headers)),
      body,
      signal: init.signal ?? new AbortController().signal,
      service,
      // The caller's fetch semantics: `manual` (oidc-provider's Client ID Metadata Document fetch)
      // gets the 3xx itself, never the document of wherever it points.
      ...(init.redirect === 'manual' || init.redirect === 'error' ? { redirect: init.redirect } : {}),
      ...limits,
    });
    const bytes = await res.bytes();
    const nullBody = res.status === 204 || res.status === 205 || res.status === 304;
    return new Response(nullBody ? null : bytes, { status: res.status, headers: res.headers });
  };
}

async function readCapped(body: Dispatcher.ResponseData['body'], cap: number, service: string): Promise<Uint8Array> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > cap) {
      body.destroy();
      throw tooLarge(service, cap);
    }
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

const tooLarge = (service: string, cap: number) =>
  new AppError('upstream', 'upstream_response_too_large', `${service} answered with more than ${cap} bytes`, { retryable: false, expose: true });

function toHeaders(raw: Dispatcher.ResponseData['headers']): Headers {
  const h = new Headers();
  for (const [k, v] of Object.entries(raw)) {
    if (v === undefined) continue;
    for (const one of Array.isArray(v) ? v : [v]) h.append(k, one);
  }
  return h;
}

/** Why a request failed: cancelled by the caller, out of time, or the given cause. All retryable. */
function fetchFailure(init: EgressInit, signal: AbortSignal, cause: unknown, code: string, what: string): AppError {
  const [c, w] = init.signal.aborted ? ['cancelled', 'request cancelled'] : signal.aborted ? ['upstream_timeout', 'timed out'] : [code, what];
  return new AppError('upstream', c, `${init.service} ${w}`, { cause, retryable: true, expose: true });
}

/** A `Retry-After` header (seconds or an HTTP date) in ms, capped at 10 minutes; undefined if absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const secs = /^\d+$/.test(header.trim()) ? Number(header.trim()) * 1000 : Date.parse(header) - now;
  return Number.isFinite(secs) ? Math.min(600_000, Math.max(0, secs)) : undefined;
}

/**
 * Sort an upstream HTTP status into a coded error: 429 and 5xx retry, other 4xx fail at once. A 429's
 * `Retry-After` travels as `details.retryAfterMs` (the worker waits that long, fate.ts).
 */
export function upstreamStatusError(service: string, status: number, detail?: string, retryAfter?: string | null): AppError {
  const suffix = detail ? `: ${detail}` : '';
  const wait = retryAfterMs(retryAfter);
  if (status === 401 || status === 403)
    return new AppError('upstream', 'upstream_unauthorized', `${service} refused the credentials (${status})${suffix}`, { status: 502, expose: true });
  if (status === 429)
    return new AppError('upstream', 'upstream_rate_limited', `${service} is rate limiting (429)${suffix}`, {
      retryable: true,
      status: 502,
      expose: true,
      ...(wait === undefined ? {} : { details: { retryAfterMs: wait } }),
    });
  if (status >= 500)
    return new AppError('upstream', 'upstream_error', `${service} failed (${status})${suffix}`, { retryable: true, status: 502, expose: true });
  return new AppError('upstream', 'upstream_rejected', `${service} rejected the request (${status})${suffix}`, { status: 502, expose: true });
}
