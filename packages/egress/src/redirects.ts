import { isIP } from 'node:net';
import { AppError, isAppError } from '@mcprt/errors';
import { request as undiciRequest, type Dispatcher } from 'undici';
import { isPublicAddress } from './addresses.js';
import type { EgressInit } from './egress.js';
import { fetchFailure, notPublic, REFUSED, refused } from './failures.js';

const REDIRECTS = new Set([301, 302, 303, 307, 308]);
/** Headers that may follow a redirect to another origin; everything else (Authorization, API keys, cookies) is dropped. */
const CROSS_ORIGIN_SAFE_HEADERS = new Set(['accept', 'accept-language', 'user-agent', 'x-client-source']);

/** What following a request needs from its egress. */
export interface Hops {
  agent: Dispatcher;
  allowPrivate: boolean;
  maxRedirects: number;
}

/** One hop's request: where, how, with which headers and body. */
interface Hop {
  target: URL;
  method: 'GET' | 'POST';
  headers: Record<string, string>;
  body: string | Uint8Array | undefined;
}

/**
 * Send the request and follow redirects by hand, a few hops, never from https to http; when the
 * origin changes only harmless headers go along and a request body never follows. Returns the first
 * answer that is not a redirect to follow.
 */
export async function follow(h: Hops, start: URL, init: EgressInit, signal: AbortSignal): Promise<Dispatcher.ResponseData> {
  const lowered = Object.fromEntries(Object.entries(init.headers ?? {}).map(([k, v]) => [k.toLowerCase(), v]));
  let hop: Hop = { target: start, method: init.method ?? 'GET', headers: lowered, body: init.body };
  for (let n = 0; ; n++) {
    checkTarget(h, hop.target, init.service);
    let res: Dispatcher.ResponseData;
    try {
      res = await undiciRequest(hop.target, { method: hop.method, headers: hop.headers, body: hop.body, signal, dispatcher: h.agent });
    } catch (cause) {
      if (isAppError(cause) && cause.code === REFUSED) throw notPublic(init.service);
      throw fetchFailure(init.signal, init.service, signal, cause, 'upstream_unreachable', 'cannot be reached');
    }
    const location = res.headers.location;
    if (!REDIRECTS.has(res.statusCode) || typeof location !== 'string' || init.redirect === 'manual') return res;
    await res.body.dump().catch(() => undefined);
    if (init.redirect === 'error') throw refused(init.service, 'redirected; the request was not followed');
    if (n >= h.maxRedirects) throw new AppError('upstream', 'upstream_redirect_loop', `${init.service} redirected too often`, { expose: true });
    hop = nextHop(hop, res.statusCode, location, init);
  }
}

/** A URL the egress may request: http(s), no credentials in it, and (outside development) no private literal. */
function checkTarget(h: Hops, target: URL, service: string): void {
  if (target.protocol !== 'https:' && target.protocol !== 'http:') throw refused(service, 'URL scheme is not http(s)');
  if (target.username || target.password) throw refused(service, 'URL must not carry credentials');
  // The connector checks again at connect time; this gives the clear error without starting one.
  const literal = target.hostname.replace(/^\[|\]$/g, '');
  if (!h.allowPrivate && isIP(literal) && !isPublicAddress(literal)) throw notPublic(service);
}

/** The request a redirect leads to, or the refusal to follow it. */
function nextHop(hop: Hop, status: number, location: string, init: EgressInit): Hop {
  let next: URL;
  try {
    next = new URL(location, hop.target);
  } catch {
    throw new AppError('upstream', 'upstream_bad_response', `${init.service} redirected to an invalid URL`, { expose: true });
  }
  if (hop.target.protocol === 'https:' && next.protocol !== 'https:') throw refused(init.service, 'redirected from https to an insecure URL');
  let { method, headers, body } = hop;
  // Fetch semantics: 303 (and 301/302 after a POST) continue as a GET without the body.
  if (status === 303 || ((status === 301 || status === 302) && method === 'POST')) {
    method = 'GET';
    body = undefined;
    headers = { ...headers };
    delete headers['content-type'];
    delete headers['content-length'];
  }
  if (next.origin !== hop.target.origin) {
    if (init.sameOriginRedirectsOnly) throw refused(init.service, 'redirected to another origin; the request was not followed');
    // Credentials belong to the origin they were issued for: another origin never receives them.
    headers = Object.fromEntries(Object.entries(headers).filter(([k]) => CROSS_ORIGIN_SAFE_HEADERS.has(k)));
    if (body !== undefined) throw refused(init.service, 'redirected a request with a body to another origin');
  }
  return { target: next, method, headers, body };
}
