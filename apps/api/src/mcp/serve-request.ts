import { createMcpHandler, isLegacyRequest, WebStandardStreamableHTTPServerTransport, type ProtocolEra, type Server } from '@modelcontextprotocol/server';
import { Readable } from 'node:stream';
import type { ReadableStream as NodeReadableStream } from 'node:stream/web';
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
 * Routing follows the SDK's own classification (see `isLegacy`). Koa has read the body, so both legs get a body-less
 * `Request` (method, URL, the protocol's headers) plus `parsedBody`, and status, headers and body
 * are copied back onto the Koa context.
 */
/**
 * Builds the request's own server for the era the request speaks. `signal` aborts when the client goes
 * away before the answer: handlers that wait (tools/call) stop waiting. It is the only cancellation
 * a stateless endpoint has in either era (2026-07-28 cancels by closing the response stream; a 2025
 * `notifications/cancelled` arrives as its own POST, at another server instance).
 */
export type ServerBuilder = (era: ProtocolEra, signal: AbortSignal) => Server;

export interface McpFront {
  /** `stream`: answer a 2025-era request over SSE (a tool that asks the client for input, or logs, on the way). */
  serve(ctx: ParameterizedContext, build: ServerBuilder, parsedBody: unknown, stream?: boolean): Promise<void>;
}

/** The 2025 revisions (and 2024-11-05): a request with one of these headers and no envelope is 2025-era. */
const LEGACY_VERSIONS = new Set(['2025-11-25', '2025-06-18', '2025-03-26', '2024-11-05']);
const MODERN_VERSIONS = new Set(['2026-07-28']);
const ENVELOPE_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';

/**
 * Which leg serves the request. The SDK's own classifier (`isLegacyRequest`, what `createMcpHandler`
 * runs) decides, except for the two shapes every steady-state request has, which skip it:
 * a 2026-07-28 header goes to the modern leg, which classifies it again and answers whatever is
 * wrong with it (-32602, -32020, …); a 2025 header with a single request that claims no envelope is
 * 2025-era by the spec's own rule (the envelope claim is what makes a request modern).
 */
async function isLegacy(request: Request, headerVersion: string | undefined, body: unknown): Promise<boolean> {
  if (headerVersion !== undefined && MODERN_VERSIONS.has(headerVersion)) return false;
  if (headerVersion !== undefined && LEGACY_VERSIONS.has(headerVersion) && isPlainRequestWithoutEnvelope(body)) return true;
  return isLegacyRequest(request, body);
}

/**
 * A request that speaks 2026-07-28 by its own say: the revision's header, or the per-request envelope
 * claim in `params._meta` (what makes a request modern). Checks that exist only in that revision
 * (`Mcp-Param-*`, param-headers.ts) run on these; the SDK refuses the inconsistent ones.
 */
export function claimsModern(headerVersion: string | undefined, body: unknown): boolean {
  if (headerVersion !== undefined && MODERN_VERSIONS.has(headerVersion)) return true;
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const meta = (body as { params?: { _meta?: unknown } }).params?._meta;
  return typeof meta === 'object' && meta !== null && ENVELOPE_VERSION_KEY in meta;
}

function isPlainRequestWithoutEnvelope(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const params = (body as { params?: unknown }).params;
  if (params === undefined) return true;
  if (typeof params !== 'object' || params === null) return false;
  const meta = (params as { _meta?: unknown })._meta;
  return meta === undefined || (typeof meta === 'object' && meta !== null && !(ENVELOPE_VERSION_KEY in meta));
}

export function createMcpFront(opts: { onerror?: (e: Error) => void } = {}): McpFront {
  // The factory gets the web Request it serves (`requestInfo`); each request's builder closes over
  // that request's verified identity, so the identity never travels through the SDK.
  const builders = new WeakMap<Request, (era: ProtocolEra) => Server>();
  const modern = createMcpHandler(
    ({ requestInfo, era }) => {
      const build = requestInfo && builders.get(requestInfo);
      if (!build) throw new Error('MCP front: no server builder for this request');
      return build(era);
    },
    { legacy: 'reject', ...(opts.onerror ? { onerror: opts.onerror } : {}) },
  );

  return {
    async serve(ctx, build, parsedBody, stream = false) {
      const abort = new AbortController();
      const onClose = () => {
        if (!ctx.res.writableFinished) abort.abort();
      };
      ctx.res.once('close', onClose);
      let streaming = false;
      try {
        const request = toWebRequest(ctx);
        const version = request.headers.get('mcp-protocol-version') ?? undefined;
        let response: Response;
        if (await isLegacy(request, version, parsedBody)) {
          response = await serveLegacy(build('legacy', abort.signal), request, parsedBody, stream);
        } else {
          builders.set(request, (era) => build(era, abort.signal));
          try {
            response = await modern.fetch(request, { parsedBody });
          } finally {
            // Not left to the WeakMap: an entry stays in the table until a full collection notices
            // its key is gone, and its builder reaches the whole request.
            builders.delete(request);
          }
        }
        response.headers.forEach((value, name) => ctx.set(name, value));
        // An SSE answer (a handler sent notifications, e.g. progress while a call runs) is
        // streamed as it is written; the hang-up listener stays until the stream ends. Everything
        // else is read whole.
        streaming = response.body !== null && (response.headers.get('content-type') ?? '').startsWith('text/event-stream');
        if (streaming) {
          ctx.status = response.status;
          ctx.body = Readable.fromWeb(response.body as unknown as NodeReadableStream<Uint8Array>);
          return;
        }
        // Body first: Koa turns a null body into 204 unless the status is set after it (202 for notifications).
        ctx.body = response.body ? await response.text() : null;
        ctx.status = response.status;
      } finally {
        if (!streaming) ctx.res.removeListener('close', onClose);
      }
    },
  };
}

/** A body-less web Request with the protocol's headers (no signal: cancellation is the builder's `signal`). */
function toWebRequest(ctx: ParameterizedContext): Request {
  const headers: Record<string, string> = {};
  const forward = (name: string) => {
    const value = ctx.req.headers[name];
    if (value !== undefined) headers[name] = Array.isArray(value) ? value.join(', ') : value;
  };
  for (const name of FORWARDED) forward(name);
  for (const name of Object.keys(ctx.req.headers)) if (PARAM_HEADER.test(name)) forward(name);
  return new Request(`http://${ctx.host || 'localhost'}${ctx.originalUrl}`, { method: ctx.method, headers });
}

/**
 * A 2025-era POST: a fresh stateless transport in JSON-response mode, connected to the request's own
 * server. Once the transport has answered nothing is left running, and the pair is simply dropped
 * (closing it would only build a "connection closed" error per request).
 */
async function serveLegacy(server: Server, request: Request, parsedBody: unknown, stream: boolean): Promise<Response> {
  // A request carrying a progressToken is answered over SSE, so progress can reach the client while
  // the call runs, and so is a call of a tool that asks for input (legacy-input.ts) or logs
  // (tool-log.ts in @mcprt/tools); every other request in JSON, as before.
  const json = !stream && !hasProgressToken(parsedBody);
  const transport = new WebStandardStreamableHTTPServerTransport({ sessionIdGenerator: undefined, enableJsonResponse: json });
  await server.connect(transport);
  return transport.handleRequest(request, { parsedBody });
}

/** A single request whose `params._meta` carries a progressToken. */
function hasProgressToken(body: unknown): boolean {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) return false;
  const meta = (body as { params?: { _meta?: { progressToken?: unknown } } }).params?._meta;
  return typeof meta === 'object' && meta !== null && meta.progressToken !== undefined;
}
