import { forTenant, type Executor, type TenantScope } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import type { Middleware } from 'koa';
import { bindLog, type ApiState } from './state.js';
import type { TenantCache } from './tenant-cache.js';

const SLUG = /^[a-z0-9][a-z0-9-]{0,62}$/;

/** `/t/:tenant/...` → ctx.state.tenant and a tenant-bound repository scope for the rest of the request. */
export function resolveTenant(tenants: TenantCache, db: Executor): Middleware<ApiState> {
  // A scope is stateless (the tenant id bound into each repository): one per tenant, not per request.
  const scopes = new Map<string, TenantScope>();
  const scopeOf = (tenantId: string) => {
    let scope = scopes.get(tenantId);
    if (!scope) scopes.set(tenantId, (scope = forTenant(db, tenantId)));
    return scope;
  };
  return async (ctx, next) => {
    const slug = (ctx as unknown as { params: Record<string, string> }).params.tenant ?? '';
    const tenant = SLUG.test(slug) ? await tenants.bySlug(slug) : undefined;
    if (!tenant) throw new AppError('not_found', 'tenant_not_found', 'no such tenant');
    ctx.state.tenant = tenant;
    ctx.state.scope = scopeOf(tenant.id);
    bindLog(ctx.state, { tenant: tenant.slug });
    await next();
  };
}
