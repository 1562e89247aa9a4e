import { randomUUID } from 'node:crypto';
import { AppError, toAppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';
import type { Middleware } from 'koa';
import { isDatabaseUnavailable, unavailableError, type OutageLog } from './outage.js';
import { installRequestLog, type ApiState } from './state.js';

/**
 * Outermost middleware: assigns the request id, binds a child logger, and is the one place errors
 * become response bodies (Koa's pattern). 5xx details stay in the log.
 */
export function errorHandler(log: Logger, opts: { outages?: OutageLog; retryAfterS?: number } = {}): Middleware<ApiState> {
  const retryAfterS = opts.retryAfterS ?? 2;
  return async (ctx, next) => {
    // The request id is ours, always: it goes into audit rows, call rows and error answers, where a
    // client-chosen value could collide with, or impersonate, another request's. A client's own
    // X-Request-Id is kept beside it in the log lines only, labelled as the client's.
    const requestId = randomUUID();
    ctx.state.requestId = requestId;
    const incoming = ctx.req.headers['x-request-id'];
    installRequestLog(
      ctx.state,
      log,
      typeof incoming === 'string' && CLIENT_REQUEST_ID.test(incoming) ? { requestId, clientRequestId: incoming } : { requestId },
    );
    ctx.set('x-request-id', requestId);
    try {
      await next();
    } catch (e) {
      // Postgres unreachable (tenant lookup, user upsert, …): 503 + Retry-After, logged once per outage.
      const down = isDatabaseUnavailable(e);
      const err = down ? unavailableError('postgres', retryAfterS, e) : fromThrown(e);
      if (down) {
        opts.outages?.report('postgres', e);
        ctx.set('Retry-After', String(retryAfterS));
      } else if (err.status >= 500) ctx.state.log.error({ err: e }, 'request failed');
      else ctx.state.log.debug({ code: err.code, status: err.status }, 'request refused');
      // Auth and policy refusals carry their RFC 6750 challenge.
      const challenge = err.details?.wwwAuthenticate;
      if (typeof challenge === 'string') ctx.set('WWW-Authenticate', challenge);
      ctx.status = err.status;
      ctx.body = err.expose
        ? { error: err.code, error_description: err.message, request_id: requestId }
        : { error: 'internal_error', error_description: 'internal error', request_id: requestId };
    }
  };
}

/** What of a client's X-Request-Id is worth logging (anything else is dropped, not echoed). */
const CLIENT_REQUEST_ID = /^[A-Za-z0-9._-]{1,64}$/;

const HTTP_CODES: Record<number, string> = { 400: 'bad_request', 413: 'payload_too_large', 415: 'unsupported_media_type' };

/** Our errors as they are; Koa's http-errors (body parser: 400, 413, 415) keep their status; the rest is a 500. */
function fromThrown(e: unknown): AppError {
  const h = e as { status?: unknown; expose?: unknown; message?: unknown };
  if (!(e instanceof AppError) && typeof h.status === 'number' && h.status >= 400 && h.status < 500) {
    return new AppError('validation', HTTP_CODES[h.status] ?? 'bad_request', typeof h.message === 'string' ? h.message : 'bad request', {
      status: h.status,
      expose: h.expose !== false,
      cause: e,
    });
  }
  return toAppError(e);
}
