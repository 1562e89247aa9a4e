import { lookup } from 'node:dns/promises';
import { isIP } from 'node:net';
import { AppError } from '@mcprt/errors';
import { deadline } from './deadline.js';

/**
 * The one way tools reach the network (DESIGN §5): a timeout on every request, redirects followed by
 * hand and only to public addresses, upstream failures sorted into retryable and permanent.
 */
export interface Egress {
  request(url: string, init: EgressInit): Promise<EgressResponse>;
}

export interface EgressInit {
  method?: 'GET' | 'POST';
  headers?: Record<string, string>;
  body?: string;
  signal: AbortSignal;
  timeoutMs?: number;
  /** Name used in error messages ("Scavio", "the identity provider"). */
  service: string;
}

export interface EgressResponse {
  status: number;
  headers: Headers;
  json(): Promise<unknown>;
}

export interface EgressOptions {
  /** Allow loopback and private addresses (tests and development, where doubles run on 127.0.0.1). */
  allowPrivate: boolean;
  defaultTimeoutMs?: number;
  maxRedirects?: number;
}

const PRIVATE_V4 = [/^10\./, /^127\./, /^169\.254\./, /^192\.168\./, /^172\.(1[6-9]|2\d|3[01])\./, /^0\./, /^100\.(6[4-9]|[7-9]\d|1[01]\d|12[0-7])\./];
export function isPrivateAddress(ip: string): boolean {
  if (isIP(ip) === 4) return PRIVATE_V4.some((r) => r.test(ip));
  const v6 = ip.toLowerCase();
  if (v6.startsWith('::ffff:')) return isPrivateAddress(v6.slice(7));
  return v6 === '::1' || v6 === '::' || v6.startsWith('fc') || v6.startsWith('fd') || v6.startsWith('fe80');
}

async function assertPublic(url: URL, service: string): Promise<void> {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const addrs = isIP(host) ? [host] : (await lookup(host, { all: true })).map((a) => a.address);
  if (addrs.some(isPrivateAddress)) {
    throw new AppError('upstream', 'egress_refused', `${service} address is not public`, { retryable: false, expose: true });
  }
}

export function createEgress(opts: EgressOptions): Egress {
  const defaultTimeout = opts.defaultTimeoutMs ?? 10_000;
  const maxRedirects = opts.maxRedirects ?? 3;
  return {
    async request(url, init) {
      // One deadline for the whole exchange (redirects and body included); cleared when the body has
      // been read or the request failed.
      const { signal, clear } = deadline(init.signal, init.timeoutMs ?? defaultTimeout);
      try {
        const res = await follow(new URL(url), init, signal);
        return {
          status: res.status,
          headers: res.headers,
          async json() {
            try {
              return await res.json();
            } catch (cause) {
              throw fetchFailure(init, signal, cause, 'upstream_bad_response', 'answered with invalid JSON');
            } finally {
              clear();
            }
          },
        };
      } catch (e) {
        clear();
        throw e;
      }
    },
  };

  async function follow(target: URL, init: EgressInit, signal: AbortSignal): Promise<Response> {
    for (let hop = 0; ; hop++) {
      if (target.protocol !== 'https:' && target.protocol !== 'http:') {
        throw new AppError('upstream', 'egress_refused', `${init.service} URL scheme is not http(s)`, { expose: true });
      }
      if (!opts.allowPrivate) await assertPublic(target, init.service);
      let res: Response;
      try {
        res = await fetch(target, { method: init.method ?? 'GET', headers: init.headers, body: init.body, signal, redirect: 'manual' });
      } catch (cause) {
        throw fetchFailure(init, signal, cause, 'upstream_unreachable', 'cannot be reached');
      }
      const location = res.headers.get('location');
      if (res.status < 300 || res.status >= 400 || !location) return res;
      await res.body?.cancel();
      if (hop >= maxRedirects) throw new AppError('upstream', 'upstream_redirect_loop', `${init.service} redirected too often`, { expose: true });
      target = new URL(location, target);
    }
  }
}

/** Why a request failed: cancelled by the caller, out of time, or the given cause. All retryable. */
function fetchFailure(init: EgressInit, signal: AbortSignal, cause: unknown, code: string, what: string): AppError {
  const [c, w] = init.signal.aborted ? ['cancelled', 'request cancelled'] : signal.aborted ? ['upstream_timeout', 'timed out'] : [code, what];
  return new AppError('upstream', c, `${init.service} ${w}`, { cause, retryable: true, expose: true });
}

/** Sort an upstream HTTP status into a coded error: 429 and 5xx retry, other 4xx fail at once. */
export function upstreamStatusError(service: string, status: number, detail?: string): AppError {
  const suffix = detail ? `: ${detail}` : '';
  if (status === 401 || status === 403)
    return new AppError('upstream', 'upstream_unauthorized', `${service} refused the credentials (${status})${suffix}`, { status: 502, expose: true });
  if (status === 429)
    return new AppError('upstream', 'upstream_rate_limited', `${service} is rate limiting (429)${suffix}`, { retryable: true, status: 502, expose: true });
  if (status >= 500)
    return new AppError('upstream', 'upstream_error', `${service} failed (${status})${suffix}`, { retryable: true, status: 502, expose: true });
  return new AppError('upstream', 'upstream_rejected', `${service} rejected the request (${status})${suffix}`, { status: 502, expose: true });
}
