import { appError } from '@mcprt/errors';
import type { ToolRegistry } from '@mcprt/tools';
import type { Middleware } from 'koa';
import { asIssuer } from '../auth-server/provider.js';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { mcpResourceUrl } from '../http/urls.js';

export interface WellKnownDeps {
  publicUrl: string;
  registry: Pick<ToolRegistry, 'enabledFor'>;
}

/**
 * RFC 9728 protected-resource metadata. Served path-inserted (the RFC's form, which the MCP SDK client
 * tries first) and under the tenant's own path, for clients that look there.
 */
export function mountWellKnown(routes: Routes, chains: Chains, d: WellKnownDeps): void {
  const metadata: Middleware<ApiState> = (ctx) => {
    const tenant = required(ctx, 'tenant');
    ctx.set('Cache-Control', 'public, max-age=300');
    // A public document: browser-based MCP clients (the Inspector) read it cross-origin, without credentials.
    ctx.set('Access-Control-Allow-Origin', '*');
    ctx.body = {
      resource: mcpResourceUrl(d.publicUrl, tenant.slug),
      // Built-in tenants are their own authorization server; external ones trust their IdP.
      authorization_servers: [tenant.authMode === 'builtin' ? asIssuer(d.publicUrl, tenant.slug) : tenant.idpIssuer],
      scopes_supported: d.registry.enabledFor(tenant.enabledTools).map((t) => t.mcpScope),
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
  for (const path of [
    '/.well-known/oauth-protected-resource/t/:tenant/mcp',
    '/t/:tenant/mcp/.well-known/oauth-protected-resource',
    '/t/:tenant/.well-known/oauth-protected-resource',
  ]) {
    routes.get(path, chains.tenant, metadata);
    routes.options(path, chains.open, preflight);
  }
  // The host-root form names no tenant: each tenant is its own protected resource.
  routes.get('/.well-known/oauth-protected-resource', chains.open, () => {
    throw appError('not_found', 'metadata is per tenant: /.well-known/oauth-protected-resource/t/{tenant}/mcp');
  });
}
