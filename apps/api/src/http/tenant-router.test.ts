import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Tenant } from '@mcprt/db';
import { generateKey, parseKeyring } from '@mcprt/keyring';
import { loadConfig } from '@mcprt/config';
import { createLogger } from '@mcprt/observability';
import { Redis } from 'ioredis';
import { redisKeys } from '@mcprt/redis';
import Koa from 'koa';
import { afterAll, describe, expect, it } from 'vitest';
import { mountRoutes } from '../app.js';
import type { ApiResources } from '../resources.js';
import { errorHandler } from './error-handler.js';
import { resolveTenant } from './resolve-tenant.js';
import type { ApiState } from './state.js';
import { answerAsPage, declareChains, Routes } from './tenant-router.js';

const tenant = { id: '00000000-0000-4000-8000-000000000001', slug: 'acme', authMode: 'builtin', displayName: 'Acme' } as Tenant;

/** A tenant look-up that counts what it is asked. */
function countingTenants() {
  const asked: string[] = [];
  return { asked, bySlug: async (slug: string) => (asked.push(slug), slug === tenant.slug ? tenant : undefined) };
}

async function serve(app: Koa<ApiState>) {
  const server = http.createServer(app.callback());
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, close: () => new Promise((r) => server.close(r)) };
}

describe('the tenant router', () => {
  const closers: (() => Promise<unknown>)[] = [];
  afterAll(async () => {
    for (const close of closers) await close();
  });

  it('resolves the tenant once per request, also when two routes of one path both run', async () => {
    const tenants = countingTenants();
    const chains = declareChains({ tenants, db: { db: {} } as never, bearer: { publicUrl: 'http://x' } as never, allowedOrigins: [], operators: {} as never });
    const routes = new Routes();
    // A module that resolves with its own call, as a route that passes on what is not its own does.
    routes.router.get('/t/:tenant/login/callback', answerAsPage, resolveTenant(tenants, {} as never), (_ctx, next) => next());
    routes.get('/t/:tenant/login/callback', chains.page, (ctx) => {
      ctx.body = { tenant: ctx.state.tenant?.slug };
    });
    routes.get('/t/:tenant/doc', chains.tenant, (ctx) => {
      ctx.body = { tenant: ctx.state.tenant?.slug };
    });
    const app = new Koa<ApiState>();
    app.use(errorHandler(createLogger({ name: 'test', level: 'silent' })));
    app.use(routes.router.routes());
    const s = await serve(app);
    closers.push(s.close);

    for (const path of ['/t/acme/login/callback', '/t/acme/doc']) {
      tenants.asked.length = 0;
      const res = await fetch(`${s.url}${path}`);
      expect(await res.json()).toEqual({ tenant: 'acme' });
      expect(tenants.asked).toEqual(['acme']);
    }
    // A page's error is HTML; a malformed slug costs no look-up.
    tenants.asked.length = 0;
    const refused = await fetch(`${s.url}/t/NOPE/login/callback`);
    expect([refused.status, refused.headers.get('content-type')]).toEqual([404, 'text/html; charset=utf-8']);
    expect(await refused.text()).toContain('data-error="tenant_not_found"');
    expect(tenants.asked).toEqual([]);
  });

  it('mounts every route of the app with a declared chain, and every tenant route resolves its tenant', async () => {
    const config = loadConfig({
      NODE_ENV: 'test',
      PUBLIC_URL: 'http://127.0.0.1:1',
      DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none',
      REDIS_URL: 'redis://127.0.0.1:1',
      SEAL_KEYS: `k1:${generateKey()}`,
    });
    const redis = new Redis(config.REDIS_URL, { lazyConnect: true });
    closers.push(async () => redis.disconnect());
    const r = {
      config,
      db: { db: {}, sql: {} },
      redis,
      keys: redisKeys(config.QUEUE_PREFIX),
      keyring: parseKeyring(config.SEAL_KEYS, config.SEAL_ACTIVE_KID),
      tenants: countingTenants(),
      authServers: { cookieKeys: [] },
      log: createLogger({ name: 'test', level: 'silent' }),
    } as unknown as ApiResources;
    const { routes } = mountRoutes(r, () => false);

    const declared = new Set(routes.mounted.map((m) => `${m.method.toUpperCase()} ${m.path}`));
    const layers = routes.router.stack.flatMap((l) => l.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${l.path}`));
    // connect.ts registers its routes on the router itself (its own module resolves through the same resolver).
    const undeclared = layers.filter((l) => !declared.has(l) && !/\/connect\/|\/login\/callback$/.test(l));
    expect(undeclared).toEqual([]);

    // A tenant path runs without resolving its tenant only where nothing tenant-specific is answered.
    const OPEN_ON_TENANT_PATHS = new Set(['GET /t/:tenant/mcp', 'DELETE /t/:tenant/mcp']);
    for (const m of routes.mounted) {
      const key = `${m.method.toUpperCase()} ${m.path}`;
      if (!m.path.includes(':tenant') || m.method === 'options' || OPEN_ON_TENANT_PATHS.has(key)) continue;
      expect(m.chain, key).not.toBe('open');
    }
    expect(new Set(routes.mounted.map((m) => m.chain))).toEqual(
      new Set(['open', 'tenant', 'builtin-tenant', 'bearer', 'bearer-write', 'api-key', 'page', 'console', 'operator']),
    );
    // The admin console: only its sign-in form is reachable without an operator session.
    const consoleRoutes = routes.mounted.filter((m) => m.path.startsWith('/t/:tenant/admin'));
    expect(consoleRoutes.length).toBeGreaterThan(10);
    for (const m of consoleRoutes) expect(m.chain, m.path).toBe(m.path === '/t/:tenant/admin/login' ? 'console' : 'operator');
  });
});
