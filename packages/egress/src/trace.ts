import { inSpan, markError } from '@mcprt/observability';
import type { Egress } from './types.js';

/**
 * An outbound request as a CLIENT span (OpenTelemetry HTTP client conventions, named after the
 * method), made only inside a traced operation (a call's span), so background fetches (JWKS,
 * discovery) start no traces of their own. Recorded: method, scheme, host, port, status, and the
 * caller's description of the service ("Gmail", "token refresh", …). Never the path or the query
 * (user data: message ids, repository names, search terms), never a header or a body. The request
 * carries no `traceparent`: trace ids are not handed to third parties.
 */
export async function tracedRequest(send: Egress['request'], url: string, init: Parameters<Egress['request']>[1]) {
  const method = init.method ?? 'GET';
  return inSpan(
    method,
    { kind: 'client', attributes: { 'http.request.method': method, ...target(url), 'mcprt.egress.service': init.service } },
    async (span) => {
      const res = await send(url, init);
      span?.setAttribute('http.response.status_code', res.status);
      if (res.status >= 400) markError(span, String(res.status));
      return res;
    },
  );
}

function target(url: string): Record<string, string | number> {
  try {
    const u = new URL(url);
    return { 'url.scheme': u.protocol.replace(':', ''), 'server.address': u.hostname, 'server.port': Number(u.port) || (u.protocol === 'https:' ? 443 : 80) };
  } catch {
    return {};
  }
}
