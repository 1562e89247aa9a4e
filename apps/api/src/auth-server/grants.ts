import { oidcStoreRepository, type Executor, type OidcStoreRow, type Tenant } from '@mcprt/db';
import { openOidcPayload, storeKey } from '@mcprt/identity';
import type { Keyring } from '@mcprt/keyring';
import { parseScopes } from '@mcprt/policy';
import type { AuthServers } from './provider.js';

/**
 * The grants of a tenant's built-in authorization server (one per user and MCP client they allowed),
 * as the account page and the admin console show and revoke them: one reading, one revocation.
 */

type Provider = Awaited<ReturnType<AuthServers['get']>>['provider'];

export interface GrantView {
  grantId: string;
  accountId: string;
  clientId: string;
  clientName: string;
  scopes: string[];
  issuedAt: Date | undefined;
}

export interface GrantDeps {
  db: Executor;
  keyring: Keyring;
}

/** The grants of one account (the account page), or of the whole tenant (the console), newest first, opened from the tenant's store. */
export async function grantsOf(d: GrantDeps, provider: Provider, tenant: Tenant, accountId?: string): Promise<GrantView[]> {
  const store = oidcStoreRepository(d.db, tenant.id);
  const rows: OidcStoreRow[] = accountId ? await store.ofAccount('Grant', storeKey(accountId)) : await store.ofModel('Grant', 200);
  const grants: GrantView[] = [];
  for (const row of rows) {
    const g = openOidcPayload(d.keyring, tenant.id, 'Grant', row.id, row.payload) as {
      jti: string;
      accountId: string;
      clientId: string;
      resources?: Record<string, string>;
      iat?: number;
    };
    const client = await provider.Client.find(g.clientId).catch(() => undefined);
    grants.push({
      grantId: g.jti,
      accountId: g.accountId,
      clientId: g.clientId,
      clientName: typeof client?.clientName === 'string' && client.clientName ? client.clientName : g.clientId,
      scopes: Object.values(g.resources ?? {}).flatMap((s) => parseScopes(s)),
      issuedAt: g.iat ? new Date(g.iat * 1000) : undefined,
    });
  }
  return grants.sort((a, b) => (b.issuedAt?.getTime() ?? 0) - (a.issuedAt?.getTime() ?? 0));
}

/**
 * Revoke a grant of this tenant: deletes the grant and every code and refresh token of it (access
 * tokens, JWTs, lapse within their lifetime). `ofAccount`: only that account's grant (the account
 * page). Undefined when there is no such grant here: another tenant's (its provider and store are
 * this tenant's), another account's, or none.
 */
export async function revokeGrant(
  d: GrantDeps,
  provider: Provider,
  tenant: Tenant,
  grantId: string,
  ofAccount?: string,
): Promise<{ accountId: string; clientId: string | null } | undefined> {
  const grant = await provider.Grant.find(grantId);
  if (!grant || (ofAccount !== undefined && grant.accountId !== ofAccount)) return undefined;
  await oidcStoreRepository(d.db, tenant.id).revokeByGrantId(storeKey(grantId));
  await grant.destroy();
  return { accountId: grant.accountId as string, clientId: grant.clientId ?? null };
}
