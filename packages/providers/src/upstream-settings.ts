import { open, seal, sealPurposes, type Keyring, type SealContext } from '@mcprt/keyring';
import type { Tenant } from '@mcprt/db';
import { isUpstreamKind, providerKind } from './kinds/index.js';
import type { UpstreamKind } from './kinds/kind.js';

/** One upstream provider of a tenant, resolved: where it is, our client there (secret still sealed), its default scopes. */
export interface ResolvedUpstream {
  /** `idp` (the tenant's login IdP) or a connectable provider name (`github`, `google`, …). */
  provider: string;
  kind: UpstreamKind;
  /** OIDC issuer (discovery) for OIDC kinds; the web base (`https://github.com`) for `github`. */
  issuer: string;
  /** The REST API base of a kind that has one (GitHub: where `GET /user` says who the account is). */
  apiBase: string | undefined;
  clientId: string;
  clientSecretSealed: string;
  secretContext: SealContext;
  scopes: string[];
}

/** How a connectable provider's client secret is sealed (bound to tenant and provider). */
export const upstreamSecretContext = sealPurposes.upstream_client_secret.context;
const idpSecretContext = sealPurposes.idp_client_secret.context;

/** The API base of a kind that has one: the configured one, else the kind's default. */
const apiBaseOf = (kind: UpstreamKind, configured: string | null | undefined): string | undefined => {
  const fallback = providerKind(kind).settings.defaultApiBase;
  return fallback === undefined ? undefined : (configured ?? fallback);
};

/** The tenant's provider `provider` (`idp` = its login IdP), or undefined if it has none configured. */
export function upstreamOf(tenant: Tenant, provider: string): ResolvedUpstream | undefined {
  if (provider === 'idp') {
    if (!tenant.idpClientId || !tenant.idpClientSecretSealed || !isUpstreamKind(tenant.idpKind)) return undefined;
    return {
      provider,
      kind: tenant.idpKind,
      issuer: tenant.idpIssuer,
      apiBase: apiBaseOf(tenant.idpKind, tenant.idpApiBase),
      clientId: tenant.idpClientId,
      clientSecretSealed: tenant.idpClientSecretSealed,
      secretContext: sealPurposes.idp_client_secret.context(tenant.id),
      scopes: tenant.idpScopes,
    };
  }
  const u = Object.hasOwn(tenant.upstreams, provider) ? tenant.upstreams[provider] : undefined;
  if (!u || !isUpstreamKind(u.kind)) return undefined;
  return {
    provider,
    kind: u.kind,
    issuer: u.issuer,
    apiBase: apiBaseOf(u.kind, u.apiBase),
    clientId: u.clientId,
    clientSecretSealed: u.clientSecretSealed,
    secretContext: sealPurposes.upstream_client_secret.context(tenant.id, provider),
    scopes: u.scopes,
  };
}

export const openUpstreamSecret = (keyring: Keyring, u: ResolvedUpstream): string => open(keyring, u.clientSecretSealed, u.secretContext);

/**
 * A tenant's IdP client secret, sealed at rest (`tenants.idp_client_secret_sealed`), bound to the
 * tenant (purpose `idp_client_secret`): the one context the CLI seals with (`tenant set-idp`), the
 * API's federated login and the worker's refresh open with.
 */
export const sealTenantClientSecret = (keyring: Keyring, tenantId: string, secret: string): string => seal(keyring, secret, idpSecretContext(tenantId));
export const openTenantClientSecret = (keyring: Keyring, tenantId: string, sealed: string): string => open(keyring, sealed, idpSecretContext(tenantId));
