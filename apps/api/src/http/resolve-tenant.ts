import { forTenant, type TenantScope } from '@mcprt/calls';
import type { Executor } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { Middleware } from 'koa';
import { LRUCache } from 'lru-cache';
import { bindLog, type ApiState } from './state.js';
import { isTenantSlug, type TenantCache } from './tenant-cache.js';

export type TenantLookup = Pick<TenantCache, 'bySlug'>;

/** One resolver per tenant cache: every route (and every chain that includes it) shares its scopes. */
const resolvers = new WeakMap<TenantLookup, Middleware<ApiState>>();

/**
 * `/t/:tenant/...` → ctx.state.tenant and a tenant-bound repository scope for the rest of the request.
 * Resolved once per request: when two routes match one request (a route that passes on with `next`),
 * the second finds the tenant already there and looks nothing up.
 */
export function resolveTenant(tenants: TenantLookup, db: Executor): Middleware<ApiState> {
  const known = resolvers.get(tenants);
  if (known) return known;
  // A scope is stateless (the tenant id bound into each repository): one per tenant, not per request.
  const scopes = new LRUCache<string, TenantScope>({ max: 10_000 });
  const scopeOf = (tenantId: string) => {
    let scope = scopes.get(tenantId);
    if (!scope) scopes.set(tenantId, (scope = forTenant(db, tenantId)));
    return scope;
  };
  const resolve: Middleware<ApiState> = async (ctx, next) => {
    const slug = (ctx as unknown as { params: Record<string, string> }).params.tenant ?? '';
    if (ctx.state.tenant?.slug === slug) return next();
    // Checked before any look-up: a slug that cannot exist costs no query and no cache entry.
    if (!isTenantSlug(slug)) throw appError('tenant_not_found', 'no such tenant: a tenant slug is 1-63 characters of a-z, 0-9 and "-"');
    const tenant = await tenants.bySlug(slug);
    if (!tenant) throw appError('tenant_not_found');
    ctx.state.tenant = tenant;
    ctx.state.scope = scopeOf(tenant.id);
    bindLog(ctx.state, { tenant: tenant.slug });
    await next();
  };
  resolvers.set(tenants, resolve);
  return resolve;
}
