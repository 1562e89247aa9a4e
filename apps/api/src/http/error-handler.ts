import { randomUUID } from 'node:crypto';
import { AppError, appError, toAppError, type ErrorCode } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';
import type { Middleware } from 'koa';
import { databaseUnavailable, isDatabaseUnavailable, type OutageLog } from './outage.js';
import { renderHtml, renderJson } from './render-error.js';
import { RequestState, type ApiState } from './state.js';

/**
 * Outermost middleware: assigns the request id, binds a child logger, and is the one place a thrown
 * error is caught, logged once and handed to the renderer of the request's format (JSON, or HTML on
 * the browser pages' chain). 5xx details stay in the log.
 */
export function errorHandler(log: Logger, opts: { outages?: OutageLog; retryAfterS?: number } = {}): Middleware<ApiState> {
  const retryAfterS = opts.retryAfterS ?? 2;
  return async (ctx, next) => {
    // The request id is ours, always: it goes into audit rows, call rows and error answers, where a
    // client-chosen value could collide with, or impersonate, another request's. A client's own
    // X-Request-Id is kept beside it in the log lines only, labelled as the client's.
    const requestId = randomUUID();
    const incoming = ctx.req.headers['x-request-id'];
    ctx.state = new RequestState(
      requestId,
      log,
      typeof incoming === 'string' && CLIENT_REQUEST_ID.test(incoming) ? { requestId, clientRequestId: incoming } : { requestId },
    );
    ctx.set('x-request-id', requestId);
    try {
      await next();
    } catch (e) {
      // Postgres unreachable (tenant lookup, user upsert, …): 503 + Retry-After, logged once per outage.
      const down = isDatabaseUnavailable(e);
      const err = down ? databaseUnavailable(retryAfterS, e) : fromThrown(e);
      if (down) opts.outages?.report('postgres', e);
      // Unexpected failures are logged with their stack; refusals, and what is retryable (an outage
      // is logged once by whoever watches it), only at debug.
      else if (err.status >= 500 && !err.retryable) ctx.state.log.error({ err: e }, 'request failed');
      else ctx.state.log.debug({ code: err.code, status: err.status }, 'request refused');
      if (ctx.state.errorFormat === 'html') renderHtml(ctx, err);
      else renderJson(ctx, err);
    }
  };
}

/** What of a client's X-Request-Id is worth logging (anything else is dropped, not echoed). */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

const HTTP_CODES: Record<number, ErrorCode> = { 400: 'bad_request', 413: 'payload_too_large', 415: 'unsupported_media_type' };

/** Our errors as they are; Koa's http-errors (body parser: 400, 413, 415) keep their status; the rest is a 500. */
function fromThrown(e: unknown): AppError {
  const h = e as { status?: unknown; expose?: unknown; message?: unknown };
  if (!(e instanceof AppError) && typeof h.status === 'number' && h.status >= 400 && h.status < 500) {
    return appError(HTTP_CODES[h.status] ?? 'bad_request', typeof h.message === 'string' ? h.message : 'bad request', {
      status: h.status,
      expose: h.expose !== false,
      cause: e,
    });
  }
  return toAppError(e);
}
