import { connectLinkFor, upstreamOf } from '@mcprt/providers';
import type { Tenant } from '@mcprt/db';
import type { ApiResources } from '../resources.js';

/** Where a user fixes a missing or too narrow upstream credential, made for that user (issue 8 §8). */
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
  r: Pick<ApiResources, 'keyring' | 'config'>,
  tenant: Tenant,
  userId: string,
  need: { provider: string; scopes: string[] },
): ConnectLink | undefined {
  if (tenant.authMode !== 'builtin' || !upstreamOf(tenant, need.provider)) return undefined;
  return { url: connectLinkFor(r.keyring, r.config.PUBLIC_URL, tenant, userId, need.provider, need.scopes), provider: need.provider, scopes: need.scopes };
}
