import { ProtocolError, ProtocolErrorCode } from '@modelcontextprotocol/server';
import type { AppError } from '@mcprt/errors';
import { errorSpec, toAppError } from '@mcprt/errors';
import type { ParameterizedContext } from 'koa';
import { errorPage, page, pageCsp, esc } from '../auth-server/pages.js';
import type { ApiState } from './state.js';

/**
 * The one place an error becomes a response body, one renderer per format:
 * - JSON (`renderJson`): the OAuth error shape `{ error, error_description, request_id }` every route
 *   answers with, or the catalogue's nested shape for an error about a resource (`call_final`);
 * - HTML (`renderHtml`, `renderProviderError`): the browser pages' error page, same status and code;
 * - JSON-RPC (`renderRpc` for the MCP front before the SDK, `toProtocolError` for the SDK's handlers).
 * Status, retryability and the JSON-RPC code come from the error catalogue (@mcprt/errors).
 */

type Ctx = ParameterizedContext<ApiState>;

/** What a client may see of an error: exposed ones as they are, anything else as `internal_error`. */
function visible(err: AppError): { code: string; message: string } {
  return err.expose ? { code: err.code, message: err.message } : { code: 'internal_error', message: 'internal error' };
}

/** Headers an error carries: its RFC 6750 challenge, and when to try again. */
function errorHeaders(ctx: Ctx, err: AppError): void {
  const challenge = err.details?.wwwAuthenticate;
  if (typeof challenge === 'string') ctx.set('WWW-Authenticate', challenge);
  const after = err.details?.retryAfterSeconds;
  if (typeof after === 'number') ctx.set('Retry-After', String(after));
}

export function renderJson(ctx: Ctx, err: AppError): void {
  errorHeaders(ctx, err);
  ctx.status = err.status;
  const { code, message } = visible(err);
  if (err.expose && errorSpec(err.code).shape === 'nested') {
    ctx.body = { error: { code, message }, ...(err.details?.attached as Record<string, unknown> | undefined) };
    return;
  }
  ctx.body = { error: code, error_description: message, request_id: ctx.state.requestId };
}

/** Browser routes answer an error as a page (a person is looking at it): the stable code and a safe message. */
export function renderHtml(ctx: Ctx, err: AppError): void {
  errorHeaders(ctx, err);
  ctx.status = err.status;
  const { code, message } = visible(err);
  htmlHeaders(ctx);
  ctx.body = errorPage(code, message, ctx.state.requestId);
}

function htmlHeaders(ctx: { set(name: string, value: string): void; type: string }): void {
  ctx.set('Cache-Control', 'no-store');
  ctx.set('Content-Security-Policy', pageCsp());
  ctx.type = 'html';
}

/** The authorization server's own error page (oidc-provider's `renderError`): escaped, strict CSP, no internals. */
export function renderProviderError(
  ctx: { set(name: string, value: string): void; type: string; body: unknown },
  out: { error?: unknown; error_description?: unknown },
): void {
  htmlHeaders(ctx);
  ctx.body = page(
    'Sign-in error',
    `<h1>This sign-in cannot continue</h1><p><code>${esc(String(out.error))}</code>: ${esc(String(out.error_description ?? ''))}</p><p>Go back to your app and start again.</p>`,
  );
}

/** A JSON-RPC error answered by the MCP front itself, before the SDK (the request's id when it has one). */
export function renderRpc(ctx: Ctx, status: number, code: number, message: string, id: unknown = null): void {
  ctx.status = status;
  ctx.body = { jsonrpc: '2.0', error: { code, message }, id: typeof id === 'string' || typeof id === 'number' ? id : null };
}

/** A single JSON-RPC answer (its error from `toProtocolError`) that said "temporarily unavailable", said in HTTP too. */
export function renderRpcUnavailable(ctx: Ctx, retryAfterS: number): void {
  ctx.status = 503;
  ctx.set('Retry-After', String(retryAfterS));
}

/** JSON-RPC "Invalid Request" (-32600), answered with HTTP 400 before the SDK. */
export const INVALID_RPC_REQUEST = -32600;

/** MCP 2026-07-28 "HeaderMismatch" (-32020): a request header disagrees with the body; answered with HTTP 400. */
export const HEADER_MISMATCH_RPC = -32020;

/**
 * What an MCP handler's failure becomes: protocol errors pass as they are; anything else takes the
 * catalogue's JSON-RPC code (else -32603 internal error) with the request id and the error's public
 * code in `data`, never the message of an unexposed error.
 */
export function toProtocolError(e: unknown, requestId: string): ProtocolError {
  if (e instanceof ProtocolError) return e;
  const err = toAppError(e);
  const pub = err.toPublic();
  const after = err.details?.retryAfterSeconds;
  return new ProtocolError(errorSpec(err.code).rpcCode ?? ProtocolErrorCode.InternalError, `${pub.message} (request id ${requestId})`, {
    code: pub.code,
    requestId,
    retryable: err.retryable,
    ...(typeof after === 'number' ? { retryAfterSeconds: after } : {}),
  });
}
