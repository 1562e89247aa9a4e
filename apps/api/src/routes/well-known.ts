import type Router from '@koa/router';
import type { Middleware } from 'koa';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import { asIssuer } from '../auth-server/provider.js';
import { mcpResourceUrl } from '../http/urls.js';
import type { ApiResources } from '../resources.js';

/**
 * RFC 9728 protected-resource metadata. Served path-inserted (the RFC's form, which the MCP SDK client
 * tries first) and under the tenant's own path, for clients that look there.
 */
export function mountWellKnown(router: Router<ApiState>, r: ApiResources): void {
  const metadata: Middleware<ApiState> = (ctx) => {
    const tenant = required(ctx, 'tenant');
    ctx.set('Cache-Control', 'public, max-age=300');
    ctx.body = {
      resource: mcpResourceUrl(r.config.PUBLIC_URL, tenant.slug),
      // Built-in tenants are their own authorization server (issue 8); external ones trust their IdP.
      authorization_servers: [tenant.authMode === 'builtin' ? asIssuer(r.config.PUBLIC_URL, tenant.slug) : tenant.idpIssuer],
      scopes_supported: r.registry.enabledFor(tenant.enabledTools).map((t) => t.mcpScope),
      bearer_methods_supported: ['header'],
      resource_name: `${tenant.displayName} (MCP)`,
    };
  };
  const tenant = resolveTenant(r.tenants, r.db.db);
  router.get('/.well-known/oauth-protected-resource/t/:tenant/mcp', tenant, metadata);
  router.get('/t/:tenant/mcp/.well-known/oauth-protected-resource', tenant, metadata);
  router.get('/t/:tenant/.well-known/oauth-protected-resource', tenant, metadata);
  // The host-root form names no tenant: each tenant is its own protected resource.
  router.get('/.well-known/oauth-protected-resource', (ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', error_description: 'metadata is per tenant: /.well-known/oauth-protected-resource/t/{tenant}/mcp' };
  });
}
