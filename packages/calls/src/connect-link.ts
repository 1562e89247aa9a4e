import type { Tenant } from '@mcprt/db';
import type { Keyring } from '@mcprt/keyring';
import { connectLinkFor, upstreamOf } from '@mcprt/providers';

/** Where a user fixes a missing or too narrow upstream credential, made for that user. */
export interface ConnectLink {
  url: string;
  provider: string;
  scopes: string[];
}

/**
 * The connect link for `userId`, or undefined where the tenant has no connect route for the provider
 * (an `external` tenant, or a provider it has not configured): then the refusal carries its message only.
 */
export function connectLinkOf(
  r: { keyring: Keyring; config: { PUBLIC_URL: string } },
  tenant: Tenant,
  userId: string,
  need: { provider: string; scopes: string[] },
): ConnectLink | undefined {
  if (tenant.authMode !== 'builtin' || !upstreamOf(tenant, need.provider)) return undefined;
  return { url: connectLinkFor(r.keyring, r.config.PUBLIC_URL, tenant, userId, need.provider, need.scopes), provider: need.provider, scopes: need.scopes };
}
