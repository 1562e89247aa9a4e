import { AppError } from '@mcprt/errors';
import type { Middleware } from 'koa';

/**
 * MCP transport spec (Streamable HTTP, "Security Warning"): validate `Origin` to stop DNS rebinding.
 * Requests without Origin (non-browser clients) pass; a present Origin must be allowed.
 */
export function originCheck(publicUrl: string, extra: readonly string[]): Middleware {
  const allowed = new Set([new URL(publicUrl).origin, ...extra.map((o) => new URL(o).origin)]);
  return async (ctx, next) => {
    const origin = ctx.get('origin');
    if (origin && !allowed.has(origin)) throw new AppError('policy', 'origin_not_allowed', 'Origin not allowed', { status: 403 });
    await next();
  };
}
