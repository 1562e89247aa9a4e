import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { WebStandardStreamableHTTPServerTransport } from '@modelcontextprotocol/sdk/server/webStandardStreamableHttp.js';
import type { ParameterizedContext } from 'koa';

/**
 * The request headers the transport reads (content negotiation, protocol version, session and
 * resumption ids, and Host/Origin for its optional DNS-rebinding check, which our own middleware
 * does). Nothing else reaches the SDK: the bearer token and cookies stay with our middleware.
 */
const FORWARDED = ['accept', 'content-type', 'mcp-protocol-version', 'mcp-session-id', 'last-event-id', 'host', 'origin'] as const;

/**
 * One MCP POST through the SDK's Streamable HTTP transport, stateless and in JSON-response mode: a
 * fresh transport for this request, connected to the request's own server.
 *
 * The SDK's Node transport (`StreamableHTTPServerTransport`) is a wrapper that turns the Node
 * request into a web `Request` through @hono/node-server and streams the web `Response` back. Koa has
 * already read and parsed the body, and in JSON-response mode the answer is one JSON document, so
 * this adapter hands the web-standard transport it wraps a body-less `Request` (method, URL, the
 * protocol's headers) with `parsedBody`, and copies status, headers and body onto the Koa context: the same
 * transport code decides every answer, without the stream conversions.
 */
export async function serveMcpRequest(ctx: ParameterizedContext, server: Server, parsedBody: unknown): Promise<void> {
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  // The client went away before the answer: close the server, which closes the transport and
  // aborts the handlers still running (their `extra.signal`), e.g. a tools/call still waiting.
  // Once the transport has answered nothing is left running, and the pair is simply dropped (closing
  // it then would only build a "connection closed" error per request).
  const close = () => void server.close();
  ctx.res.once('close', close);
  try {
    await server.connect(transport);
    const headers: Record<string, string> = {};
    for (const name of FORWARDED) {
      const value = ctx.req.headers[name];
      if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
    }
    const request = new Request(`http://${ctx.host || 'localhost'}${ctx.originalUrl}`, { method: ctx.method, headers });
    const response = await transport.handleRequest(request, { parsedBody });
    response.headers.forEach((value, name) => ctx.set(name, value));
    // Body first: Koa turns a null body into 204 unless the status is set after it (202 for notifications).
    ctx.body = response.body ? await response.text() : null;
    ctx.status = response.status;
  } catch (e) {
    close();
    throw e;
  } finally {
    ctx.res.removeListener('close', close);
  }
}
