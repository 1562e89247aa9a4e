import type Router from '@koa/router';
import type { ApiState } from '../http/state.js';
import type { ApiResources } from '../resources.js';

/**
 * Liveness says the process runs; readiness says its dependencies answer (Postgres and Redis).
 * Metrics are not here: they have their own listener (METRICS_PORT, server.ts).
 */
export function mountHealth(router: Router<ApiState>, r: ApiResources, isDraining: () => boolean): void {
  router.get('/healthz', (ctx) => {
    ctx.body = { status: 'ok' };
  });
  router.get('/readyz', async (ctx) => {
    const timeout = <T>(p: Promise<T>) => Promise.race([p, new Promise<never>((_, rej) => setTimeout(() => rej(new Error('timeout')), 1_000))]);
    const [pg, redis] = await Promise.allSettled([timeout(r.db.sql`select 1`), timeout(r.redis.ping())]);
    const checks = { postgres: pg.status === 'fulfilled' ? 'ok' : 'down', redis: redis.status === 'fulfilled' ? 'ok' : 'down', draining: isDraining() };
    ctx.status = checks.postgres === 'ok' && checks.redis === 'ok' && !checks.draining ? 200 : 503;
    ctx.body = checks;
  });
}
