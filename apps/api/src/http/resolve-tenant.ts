import { forTenant, type TenantScope } from '@mcprt/calls';
import { type Executor } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import type { Middleware } from 'koa';
import { LRUCache } from 'lru-cache';
import { bindLog, type ApiState } from './state.js';
import { isTenantSlug, type TenantCache } from './tenant-cache.js';

/** `/t/:tenant/...` → ctx.state.tenant and a tenant-bound repository scope for the rest of the request. */
export function resolveTenant(tenants: TenantCache, db: Executor): Middleware<ApiState> {
  // A scope is stateless (the tenant id bound into each repository): one per tenant, not per request.
  const scopes = new LRUCache<string, TenantScope>({ max: 10_000 });
  const scopeOf = (tenantId: string) => {
    let scope = scopes.get(tenantId);
    if (!scope) scopes.set(tenantId, (scope = forTenant(db, tenantId)));
    return scope;
  };
  return async (ctx, next) => {
    const slug = (ctx as unknown as { params: Record<string, string> }).params.tenant ?? '';
    // Checked before any look-up: a slug that cannot exist costs no query and no cache entry.
    if (!isTenantSlug(slug)) throw new AppError('not_found', 'tenant_not_found', 'no such tenant: a tenant slug is 1-63 characters of a-z, 0-9 and "-"');
    const tenant = await tenants.bySlug(slug);
    if (!tenant) throw new AppError('not_found', 'tenant_not_found', 'no such tenant');
    ctx.state.tenant = tenant;
    ctx.state.scope = scopeOf(tenant.id);
    bindLog(ctx.state, { tenant: tenant.slug });
    await next();
  };
}
