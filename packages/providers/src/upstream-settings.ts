import { open, sealPurposes, type Keyring, type SealContext } from '@mcprt/keyring';
import type { Tenant } from '@mcprt/db';

/** The kinds of upstream OAuth provider a tenant can sign users in with or let them connect (issue 8 §5). */
export type UpstreamKind = 'oidc' | 'google' | 'github';

/** GitHub's public hosts: the web host serves OAuth, the API host serves `GET /user`. */
export const GITHUB_WEB = 'https://github.com';
export const GITHUB_API = 'https://api.github.com';

/** One upstream provider of a tenant, resolved: where it is, our client there (secret still sealed), its default scopes. */
export interface ResolvedUpstream {
  /** `idp` (the tenant's login IdP) or a connectable provider name (`github`, `google`, …). */
  provider: string;
  kind: UpstreamKind;
  /** OIDC issuer (discovery) for `oidc`/`google`; the web base (`https://github.com`) for `github`. */
  issuer: string;
  /** `github`: the REST API base for the user's identity. */
  apiBase: string | undefined;
  clientId: string;
  clientSecretSealed: string;
  secretContext: SealContext;
  scopes: string[];
}

const isKind = (k: string): k is UpstreamKind => k === 'oidc' || k === 'google' || k === 'github';

/** The tenant's provider `provider` (`idp` = its login IdP), or undefined if it has none configured. */
export function upstreamOf(tenant: Tenant, provider: string): ResolvedUpstream | undefined {
  if (provider === 'idp') {
    if (!tenant.idpClientId || !tenant.idpClientSecretSealed || !isKind(tenant.idpKind)) return undefined;
    return {
      provider,
      kind: tenant.idpKind,
      issuer: tenant.idpIssuer,
      apiBase: tenant.idpKind === 'github' ? (tenant.idpApiBase ?? GITHUB_API) : undefined,
      clientId: tenant.idpClientId,
      clientSecretSealed: tenant.idpClientSecretSealed,
      secretContext: sealPurposes.idp_client_secret.context(tenant.id),
      scopes: tenant.idpScopes,
    };
  }
  const u = Object.hasOwn(tenant.upstreams, provider) ? tenant.upstreams[provider] : undefined;
  if (!u || !isKind(u.kind)) return undefined;
  return {
    provider,
    kind: u.kind,
    issuer: u.issuer,
    apiBase: u.kind === 'github' ? (u.apiBase ?? GITHUB_API) : undefined,
    clientId: u.clientId,
    clientSecretSealed: u.clientSecretSealed,
    secretContext: sealPurposes.upstream_client_secret.context(tenant.id, provider),
    scopes: u.scopes,
  };
}

export const openUpstreamSecret = (keyring: Keyring, u: ResolvedUpstream): string => open(keyring, u.clientSecretSealed, u.secretContext);

/** GitHub answers `scope` comma-separated ("repo,user:email"); OAuth says space-separated. */
export const splitScopes = (s: string | undefined): string[] => (s ?? '').split(/[\s,]+/).filter(Boolean);
