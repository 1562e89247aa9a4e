import { createMcpHandler, isLegacyRequest, WebStandardStreamableHTTPServerTransport, type ProtocolEra, type Server } from '@modelcontextprotocol/server';
import type { ParameterizedContext } from 'koa';

/**
 * The request headers the SDK reads: content negotiation, the protocol version, the 2026-07-28
 * standard headers (`Mcp-Method`, `Mcp-Name`, and `Mcp-Param-*` below), 2025 session and resumption
 * ids, and Host/Origin. Nothing else reaches the SDK: the bearer token and cookies stay with our
 * middleware.
 */
const FORWARDED = ['accept', 'content-type', 'mcp-protocol-version', 'mcp-method', 'mcp-name', 'mcp-session-id', 'last-event-id', 'host', 'origin'] as const;
const PARAM_HEADER = /^mcp-param-/;

/**
 * The MCP endpoint's protocol front: one POST, either era, on one URL.
 *
 * - **2026-07-28** (a request whose `_meta` carries the per-request envelope): the SDK's
 *   `createMcpHandler` in strict mode (`legacy: 'reject'`). It validates the envelope, the standard
 *   headers against the body (-32020), the revision (-32022), required client capabilities (-32021),
 *   answers `server/discover`, and refuses the methods the revision removed. One handler per process;
 *   its factory builds the request's own server (see `build` below).
 * - **2025-03-26 … 2025-11-25** (no envelope): the SDK's web-standard Streamable HTTP transport,
 *   stateless and in JSON-response mode, with a fresh transport per request, as before.
 *
 * The routing predicate is the SDK's own (`isLegacyRequest`, the classification `createMcpHandler`
 * runs), fed the body Koa has already parsed. Koa has read the body, so both legs get a body-less
 * `Request` (method, URL, the protocol's headers) plus `parsedBody`, and status, headers and body
 * are copied back onto the Koa context.
 */
/** Builds the request's own server for the era the request speaks. */
export type ServerBuilder = (era: ProtocolEra) => Server;

export interface McpFront {
  serve(ctx: ParameterizedContext, build: ServerBuilder, parsedBody: unknown): Promise<void>;
  close(): Promise<void>;
}

export function createMcpFront(opts: { onerror?: (e: Error) => void } = {}): McpFront {
  // The factory gets the web Request it serves (`requestInfo`); each request's builder closes over
  // that request's verified identity, so the identity never travels through the SDK.
  const builders = new WeakMap<Request, ServerBuilder>();
  const modern = createMcpHandler(
    ({ requestInfo, era }) => {
      const build = requestInfo && builders.get(requestInfo);
      if (!build) throw new Error('MCP front: no server builder for this request');
      return build(era);
    },
    { legacy: 'reject', ...(opts.onerror ? { onerror: opts.onerror } : {}) },
  );

  return {
    async serve(ctx, build, parsedBody) {
      // The client went away before the answer: abort, which cancels the handlers still running
      // (`ctx.mcpReq.signal`), e.g. a tools/call still waiting for its result.
      const abort = new AbortController();
      const onClose = () => {
        if (!ctx.res.writableFinished) abort.abort();
      };
      ctx.res.once('close', onClose);
      try {
        const request = toWebRequest(ctx, abort.signal);
        let response: Response;
        if (await isLegacyRequest(request, parsedBody)) {
          response = await serveLegacy(build('legacy'), request, parsedBody, abort.signal);
        } else {
          builders.set(request, build);
          response = await modern.fetch(request, { parsedBody });
        }
        response.headers.forEach((value, name) => ctx.set(name, value));
        // Body first: Koa turns a null body into 204 unless the status is set after it (202 for notifications).
        ctx.body = response.body ? await response.text() : null;
        ctx.status = response.status;
      } finally {
        ctx.res.removeListener('close', onClose);
      }
    },
    close: () => modern.close(),
  };
}

function toWebRequest(ctx: ParameterizedContext, signal: AbortSignal): Request {
  const headers: Record<string, string> = {};
  const forward = (name: string) => {
    const value = ctx.req.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  };
  for (const name of FORWARDED) forward(name);
  for (const name of Object.keys(ctx.req.headers)) if (PARAM_HEADER.test(name)) forward(name);
  return new Request(`http://${ctx.host || 'localhost'}${ctx.originalUrl}`, { method: ctx.method, headers, signal });
}

/** A 2025-era POST: a fresh stateless transport in JSON-response mode, connected to the request's own server. */
async function serveLegacy(server: Server, request: Request, parsedBody: unknown, signal: AbortSignal): Promise<Response> {
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: true });
  // Once the transport has answered nothing is left running, and the pair is simply dropped (closing
  // it then would only build a "connection closed" error per request); on abort, closing the server
  // aborts its running handlers.
  const close = () => void server.close();
  signal.addEventListener('abort', close, { once: true });
  try {
    await server.connect(transport);
    return await transport.handleRequest(request, { parsedBody });
  } catch (e) {
    close();
    throw e;
  } finally {
    signal.removeEventListener('abort', close);
  }
}
