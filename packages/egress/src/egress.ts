import { Agent } from 'undici';
import { guardedConnector, systemResolver, type Resolver } from './addresses.js';
import { deadline } from './deadline.js';
import { refused } from './failures.js';
import { follow, type Hops } from './redirects.js';
import { egressResponse } from './response.js';
import type { Egress } from './types.js';
import { tracedRequest } from './trace.js';
import { activeSpan } from '@mcprt/observability';

/**
 * The one way the runtime reaches the network: tools, issuer discovery and JWKS alike, so the rules
 * below hold for every outbound request.
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

export function createEgress(opts: EgressOptions): Egress {
  const defaultTimeout = opts.defaultTimeoutMs ?? 10_000;
  const defaultMaxBody = opts.maxBodyBytes ?? 1024 * 1024;
  const agent = new Agent({ connect: guardedConnector(opts.resolve ?? systemResolver, opts.allowPrivate, opts.extraCaPem, opts.nodeExtraCaCerts) });
  const hops: Hops = { agent, allowPrivate: opts.allowPrivate, maxRedirects: opts.maxRedirects ?? 3 };
  const send: Egress['request'] = async (url, init) => {
    // One deadline for the whole exchange (redirects and body included); cleared when the body has
    // been read or the request failed.
    const { signal, clear } = deadline(init.signal, init.timeoutMs ?? defaultTimeout);
    try {
      let target: URL;
      try {
        target = new URL(url);
      } catch {
        throw refused(init.service, 'URL is not valid');
      }
      const res = await follow(hops, target, init, signal);
      return egressResponse(res, { service: init.service, callerSignal: init.signal, signal, cap: init.maxBodyBytes ?? defaultMaxBody, clear });
    } catch (e) {
      clear();
      throw e;
    }
  };
  return {
    request: (url, init) => (activeSpan() ? tracedRequest(send, url, init) : send(url, init)),
    async close() {
      await agent.close();
    },
  };
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
