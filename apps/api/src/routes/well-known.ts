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
    // A public document: browser-based MCP clients (the Inspector) read it cross-origin, without credentials.
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.body = {
      resource: mcpResourceUrl(r.config.PUBLIC_URL, tenant.slug),
      // Built-in tenants are their own authorization server (issue 8); external ones trust their IdP.
      authorization_servers: [tenant.authMode === 'builtin' ? asIssuer(r.config.PUBLIC_URL, tenant.slug) : tenant.idpIssuer],
      scopes_supported: r.registry.enabledFor(tenant.enabledTools).map((t) => t.mcpScope),
      bearer_methods_supported: ['header'],
      resource_name: `${tenant.displayName} (MCP)`,
    };
  };
  // The SDK's discovery sends MCP-Protocol-Version, which makes a browser ask first (CORS preflight).
  const preflight: Middleware<ApiState> = (ctx) => {
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.set('Access-Control-Allow-Methods', 'GET');
    ctx.set('Access-Control-Allow-Headers', 'mcp-protocol-version');
    ctx.set('Access-Control-Max-Age', '600');
    ctx.status = 204;
  };
  const tenant = resolveTenant(r.tenants, r.db.db);
  for (const path of [
    '/.well-known/oauth-protected-resource/t/:tenant/mcp',
    '/t/:tenant/mcp/.well-known/oauth-protected-resource',
    '/t/:tenant/.well-known/oauth-protected-resource',
  ]) {
    router.get(path, tenant, metadata);
    router.options(path, preflight);
  }
  // The host-root form names no tenant: each tenant is its own protected resource.
  router.get('/.well-known/oauth-protected-resource', (ctx) => {
    ctx.status = 404;
    ctx.body = { error: 'not_found', error_description: 'metadata is per tenant: /.well-known/oauth-protected-resource/t/{tenant}/mcp' };
  });
}
