import { appError } from '@mcprt/errors';
import type { Middleware } from 'koa';

/**
 * MCP transport spec (Streamable HTTP, "Security Warning"): validate `Origin` to stop DNS rebinding.
 * Requests without Origin (non-browser clients) pass; a present Origin must be allowed.
 */
export function originCheck(publicUrl: string, extra: readonly string[]): Middleware {
  const allowed = new Set([new URL(publicUrl).origin, ...extra.map((o) => new URL(o).origin)]);
  return async (ctx, next) => {
    const origin = ctx.get('origin');
    if (origin && !allowed.has(origin)) throw appError('origin_not_allowed');
    await next();
  };
}

/** Paths a load balancer or orchestrator probes by address (any Host): the liveness and readiness checks. */
const PROBES = new Set(['/healthz', '/readyz']);

/**
 * The front door of every route but the probes:
 *
 * - **Request target.** An absolute-form target must name PUBLIC_URL's host too (below).
 * - **Host.** The request must name PUBLIC_URL's host (its name; any port, so replicas reached on
 *   their own ports still answer) in `Host`, and in `X-Forwarded-Host` when present. Anything else is
 *   421 `host_not_allowed` before any route runs: a page on `evil.example` whose name was rebound to
 *   our address (DNS rebinding) reaches nothing, and no route or cache sees a foreign host. A proxy in
 *   front must pass the original Host (ingress-nginx, Traefik, Caddy and cloud load balancers do;
 *   plain nginx needs `proxy_set_header Host $host`).
 * - **Framing.** Every answer carries `X-Frame-Options: DENY` and `Content-Security-Policy:
 *   frame-ancestors 'none'`; HTML pages replace that CSP with their stricter one (pages.ts), which
 *   keeps `frame-ancestors 'none'`. The authorization server's own pages (oidc-provider's logout form,
 *   form_post, errors) get them too: the headers are on the response before the provider writes.
 *
 * Cost: two header comparisons by char code (no string is built) and two constant headers set.
 */
export function frontGuard(publicUrl: string): Middleware {
  const hostname = new URL(publicUrl).hostname.toLowerCase();
  return async (ctx, next) => {
    // Absolute-form request target (`GET http://evil.example/t/… HTTP/1.1`, RFC 9112 §3.2.2): its
    // authority is the request's host, whatever `Host` says. Accepted only when it names our host, and
    // then rewritten to origin-form so no route sees a URL whose host it did not check. Cost on the
    // usual origin-form request: one char code comparison.
    const target = ctx.req.url ?? '/';
    if (target.charCodeAt(0) !== 47 /* / */ && target !== '*') {
      let u: URL | undefined;
      try {
        u = new URL(target);
      } catch {
        u = undefined;
      }
      if (!u || (u.protocol !== 'http:' && u.protocol !== 'https:')) throw appError('bad_request_target');
      if ((u.hostname !== hostname || u.username || u.password) && !PROBES.has(u.pathname)) {
        throw appError('host_not_allowed', `this server answers only for ${hostname}`);
      }
      ctx.url = `${u.pathname}${u.search}`;
      ctx.originalUrl = ctx.url;
      ctx.request.originalUrl = ctx.url;
    }
    if (!PROBES.has(ctx.path)) {
      const h = ctx.req.headers;
      const host = h.host;
      const forwarded = h['x-forwarded-host'];
      if (typeof host !== 'string' || !namesHost(host, 0, host.length, hostname) || (forwarded !== undefined && !allNameHost(forwarded, hostname))) {
        throw appError('host_not_allowed', `this server answers only for ${hostname}`);
      }
    }
    ctx.res.setHeader('X-Frame-Options', 'DENY');
    ctx.res.setHeader('Content-Security-Policy', "frame-ancestors 'none'");
    await next();
  };
}

/** Each comma-separated value of an X-Forwarded-Host header (one per proxy) names `hostname`. */
function allNameHost(value: string | string[], hostname: string): boolean {
  if (typeof value !== 'string') return false;
  let start = 0;
  for (;;) {
    const comma = value.indexOf(',', start);
    const end = comma === -1 ? value.length : comma;
    let s = start;
    let e = end;
    while (s < e && value.charCodeAt(s) === 32) s++;
    while (e > s && value.charCodeAt(e - 1) === 32) e--;
    if (!namesHost(value, s, e, hostname)) return false;
    if (comma === -1) return true;
    start = comma + 1;
  }
}

/** `value[start, end)` is `hostname` (ASCII case-insensitive), optionally followed by `:port` (digits). */
function namesHost(value: string, start: number, end: number, hostname: string): boolean {
  const n = hostname.length;
  if (end - start < n) return false;
  for (let i = 0; i < n; i++) {
    let c = value.charCodeAt(start + i);
    if (c >= 65 && c <= 90) c += 32;
    if (c !== hostname.charCodeAt(i)) return false;
  }
  const rest = start + n;
  if (rest === end) return true;
  if (value.charCodeAt(rest) !== 58 || rest + 1 === end) return false;
  for (let i = rest + 1; i < end; i++) {
    const c = value.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}
