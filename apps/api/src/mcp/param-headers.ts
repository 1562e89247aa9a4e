import type { IncomingHttpHeaders } from 'node:http';
import { headerParams, type HeaderParam, type ToolRegistry } from '@mcprt/tools';
import type { Middleware } from 'koa';
import { HEADER_MISMATCH_RPC, renderRpc } from '../http/render-error.js';
import { required, type ApiState } from '../http/state.js';
import { claimsModern } from './serve-request.js';

/**
 * `Mcp-Param-*` headers (MCP 2026-07-28): a client mirrors each argument a tool's input schema marks
 * with `x-mcp-header` into `Mcp-Param-{Name}`, so a gateway can route on it without reading the body.
 * The server must make sure the two agree, or what the gateway acted on is not what runs. The SDK
 * checks them only for its high-level server's tools; this endpoint registers its own handlers, so
 * the check is here, before the SDK sees the request, and answers like the SDK's standard-header
 * checks: HTTP 400, JSON-RPC -32020 (HeaderMismatch), the request's id, nothing recorded.
 *
 * For a 2026-07-28 `tools/call` of a tool the tenant offers:
 * - an argument that is set (not null) needs its header, and the header must decode to the same
 *   value (integers compare as numbers, booleans as `true`/`false`, strings exactly);
 * - a header whose argument is absent or null is refused (a conforming client omits it);
 * - a header naming no declared argument of the tool is refused;
 * - a value is either plain visible ASCII (space included, after the surrounding whitespace HTTP
 *   strips) or `=?base64?…?=` holding canonical, padded Base64 of valid UTF-8; anything else
 *   (control characters, non-ASCII bytes, bad Base64) is refused. CR/LF never get this far: Node's
 *   HTTP parser refuses them, and headers larger than its limit (16 KiB) get 431.
 * 2025-era requests are not checked: the headers do not exist there.
 */

const PREFIX = 'mcp-param-';
const SENTINEL_START = '=?base64?';
const SENTINEL_END = '?=';
const CANONICAL_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const PLAIN = /^[\x20-\x7e]*$/;
const DECIMAL = /^-?\d+(?:\.\d+)?$/;
const utf8 = new TextDecoder('utf-8', { fatal: true });

/** A header value as the client meant it; undefined when it is not a valid encoding. */
export function decodeParamHeader(raw: string): string | undefined {
  const v = raw.replace(/^[ \t]+|[ \t]+$/g, '');
  if (v.length >= SENTINEL_START.length + SENTINEL_END.length && v.startsWith(SENTINEL_START) && v.endsWith(SENTINEL_END)) {
    const b64 = v.slice(SENTINEL_START.length, v.length - SENTINEL_END.length);
    if (!CANONICAL_BASE64.test(b64)) return undefined;
    const bytes = Buffer.from(b64, 'base64');
    // Canonical: unused bits of the last character are zero (one encoding per value).
    if (bytes.toString('base64') !== b64) return undefined;
    try {
      return utf8.decode(bytes);
    } catch {
      return undefined;
    }
  }
  return PLAIN.test(v) ? v : undefined;
}

/** What a primitive argument looks like in its header; undefined for anything else (the arguments' validation refuses it). */
function asHeaderText(value: unknown): string | undefined {
  if (typeof value === 'string') return value;
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  return undefined;
}

function valueAt(args: unknown, path: readonly string[]): unknown {
  let node = args;
  for (const key of path) {
    if (typeof node !== 'object' || node === null || Array.isArray(node) || !Object.hasOwn(node, key)) return undefined;
    node = (node as Record<string, unknown>)[key];
  }
  return node;
}

function agrees(p: HeaderParam, decoded: string, value: unknown, text: string): boolean {
  if (p.type === 'integer' && typeof value === 'number') return DECIMAL.test(decoded) && Number(decoded) === value;
  return decoded === text;
}

/** The first disagreement between the headers and the arguments, said without either value; undefined when they agree. */
export function paramHeaderProblem(params: readonly HeaderParam[], args: unknown, headers: IncomingHttpHeaders): string | undefined {
  // Node lower-cases header names; no allocation beyond the key list for the usual call without any.
  for (const h in headers) {
    if (h.startsWith(PREFIX) && !params.some((p) => h.length === PREFIX.length + p.name.length && h.endsWith(p.name.toLowerCase())))
      return `the ${h.slice(0, 80)} header names no header-mirrored argument of this tool`;
  }
  for (const p of params) {
    const label = `Mcp-Param-${p.name}`;
    const field = `arguments.${p.path.join('.')}`;
    const header = headers[PREFIX + p.name.toLowerCase()];
    const value = valueAt(args, p.path);
    if (value === undefined || value === null) {
      if (header !== undefined) return `the ${label} header is sent but ${field} is absent`;
      continue;
    }
    const text = asHeaderText(value);
    if (text === undefined) continue;
    if (header === undefined) return `the ${label} header is missing (${field} is set)`;
    const decoded = decodeParamHeader(Array.isArray(header) ? header.join(', ') : header);
    if (decoded === undefined) return `the ${label} header is not a valid value (plain visible ASCII, or =?base64?…?= holding canonical Base64 of UTF-8)`;
    if (!agrees(p, decoded, value, text)) return `the ${label} header does not match ${field}`;
  }
  return undefined;
}

type Message = { id?: unknown; method?: unknown; params?: { name?: unknown; arguments?: unknown; _meta?: unknown } };

/** The route's step: a 2026-07-28 `tools/call` whose `Mcp-Param-*` headers disagree with its arguments is answered 400 / -32020. */
export function paramHeaders(registry: Pick<ToolRegistry, 'get'>): Middleware<ApiState> {
  return async (ctx, next) => {
    const body = ctx.request.body as Message | null;
    const name = body?.params?.name;
    if (
      typeof body === 'object' &&
      body !== null &&
      !Array.isArray(body) &&
      body.method === 'tools/call' &&
      typeof name === 'string' &&
      claimsModern(ctx.get('mcp-protocol-version').trim(), body) &&
      required(ctx, 'tenant').enabledTools.includes(name)
    ) {
      const tool = registry.get(name);
      const problem = tool && paramHeaderProblem(headerParams(tool), body.params?.arguments, ctx.req.headers);
      if (problem) return renderRpc(ctx, 400, HEADER_MISMATCH_RPC, `Bad Request: the request headers and body disagree: ${problem}`, body.id);
    }
    await next();
  };
}
