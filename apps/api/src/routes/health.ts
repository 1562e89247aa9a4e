import { withTimeout } from '@mcprt/observability';
import type { Chains, Routes } from '../http/tenant-router.js';

export interface HealthDeps {
  /** One cheap round trip to each dependency. */
  ping: { postgres: () => Promise<unknown>; redis: () => Promise<unknown> };
  isDraining: () => boolean;
}

/**
 * Liveness says the process runs; readiness says its dependencies answer (Postgres and Redis).
 * Metrics are not here: they have their own listener (METRICS_PORT).
 */
export function mountHealth(routes: Routes, chains: Chains, d: HealthDeps): void {
  routes.get('/healthz', chains.open, (ctx) => {
    ctx.body = { status: 'ok' };
  });
  routes.get('/readyz', chains.open, async (ctx) => {
    const [pg, redis] = await Promise.allSettled([withTimeout(d.ping.postgres(), 1_000, 'postgres'), withTimeout(d.ping.redis(), 1_000, 'redis')]);
    const checks = { postgres: pg.status === 'fulfilled' ? 'ok' : 'down', redis: redis.status === 'fulfilled' ? 'ok' : 'down', draining: d.isDraining() };
    ctx.status = checks.postgres === 'ok' && checks.redis === 'ok' && !checks.draining ? 200 : 503;
    ctx.body = checks;
  });
}
