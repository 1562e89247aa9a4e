import { randomUUID } from 'node:crypto';
import { toAppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';
import type { Middleware } from 'koa';
import { installRequestLog, type ApiState } from './state.js';

/**
 * Outermost middleware: assigns the request id, binds a child logger, and is the one place errors
 * become response bodies (Koa's pattern). 5xx details stay in the log.
 */
export function errorHandler(log: Logger): Middleware<ApiState> {
  return async (ctx, next) => {
    const incoming = ctx.get('x-request-id');
    const requestId = /^[A-Za-z0-9._-]{1,64}$/.test(incoming) ? incoming : randomUUID();
    ctx.state.requestId = requestId;
    installRequestLog(ctx.state, log, { requestId });
    ctx.set('x-request-id', requestId);
    try {
      await next();
    } catch (e) {
      // Koa/http-errors (e.g. body parser 413/400) carry status + expose; keep their status.
      const httpish = e as { status?: number; expose?: boolean; message?: string };
      const err = toAppError(e);
      const status = err.code === 'internal_error' && httpish.status ? httpish.status : err.status;
      const expose = err.code === 'internal_error' && httpish.status ? Boolean(httpish.expose) : err.expose;
      if (status >= 500) ctx.state.log.error({ err: e }, 'request failed');
      else ctx.state.log.debug({ code: err.code, status }, 'request refused');
      if (err.kind === 'auth' && err.details?.wwwAuthenticate) ctx.set('WWW-Authenticate', String(err.details.wwwAuthenticate));
      if (err.kind === 'policy' && err.details?.wwwAuthenticate) ctx.set('WWW-Authenticate', String(err.details.wwwAuthenticate));
      ctx.status = status;
      ctx.body = {
        error: expose ? (err.code === 'internal_error' ? 'bad_request' : err.code) : 'internal_error',
        error_description: expose ? (err.code === 'internal_error' ? (httpish.message ?? 'bad request') : err.message) : 'internal error',
        request_id: requestId,
      };
    }
  };
}
