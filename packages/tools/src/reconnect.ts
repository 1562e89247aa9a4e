import { formatScopes } from '@mcprt/policy';

/**
 * The URL where a user signs in to a provider again (`/t/{slug}/connect/{provider}`). With
 * `scopes`, the upgrade link: the sign-in asks the provider for these scopes (space-separated, URL
 * encoded) besides what the user granted before. The one helper for both: the worker's refresh path
 * (`reauth_required`), the upstream client (a 403 for a missing scope) and the API's policy denial
 * (`upstream_scope_missing`).
 */
export function reconnectUrl(publicUrl: string, tenantSlug: string, provider: string, scopes?: readonly string[]): string {
  const base = `${publicUrl}/t/${encodeURIComponent(tenantSlug)}/connect/${encodeURIComponent(provider)}`;
  return scopes && scopes.length > 0 ? `${base}?scopes=${encodeURIComponent(formatScopes(scopes))}` : base;
}
