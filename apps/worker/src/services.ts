import type { WorkerConfig } from '@mcprt/config';
import type { Tenant } from '@mcprt/db';
import type { Egress } from '@mcprt/egress';
import type { IssuerDirectory } from '@mcprt/identity';
import { open, sealPurposes, type Keyring } from '@mcprt/keyring';
import { openTenantClientSecret, openUpstreamSecret, upstreamOf, type RefreshClient } from '@mcprt/providers';
import { reconnectUrl, type ToolServices } from '@mcprt/tools';

/** What the tools reach the outside world with: the egress, the issuers, Scavio, the upstream APIs. */
export function toolServices(config: WorkerConfig, egress: Egress, directory: IssuerDirectory, keyring: Keyring): ToolServices {
  // Tenants' own Scavio keys, opened once per (tenant, sealed value): the tenant id is part of the
  // key, so a sealed value copied to another tenant is opened (and refused) under that tenant.
  const tenantScavioKeys = new Map<string, string>();
  return {
    egress,
    issuerMetadata: async (issuer) => ({ userinfoEndpoint: (await directory.metadata(issuer)).userinfoEndpoint }),
    scavio: {
      apiKey: config.SCAVIO_API_KEY,
      baseUrl: config.SCAVIO_BASE_URL.replace(/\/+$/, ''),
      style: config.SCAVIO_API_STYLE,
      tenantKey(tenantId, sealed) {
        const k = `${tenantId}\u0000${sealed}`;
        let key = tenantScavioKeys.get(k);
        if (key === undefined) {
          key = open(keyring, sealed, sealPurposes.scavio_api_key.context(tenantId));
          if (tenantScavioKeys.size >= 1_000) tenantScavioKeys.clear();
          tenantScavioKeys.set(k, key);
        }
        return key;
      },
    },
    upstream: {
      bases: { gmail: config.GMAIL_BASE_URL, calendar: config.GOOGLE_CALENDAR_BASE_URL, github: config.GITHUB_API_BASE_URL },
      timeoutMs: config.UPSTREAM_TIMEOUT_MS,
      maxBodyBytes: config.UPSTREAM_MAX_BODY_BYTES,
    },
    reconnectUrl: (slug, provider, scopes) => reconnectUrl(config.PUBLIC_URL, slug, provider, scopes),
  };
}

/** Where and as whom a credential of `provider` is refreshed for `tenant` (undefined: it cannot be). */
export function refreshClients(directory: IssuerDirectory, keyring: Keyring): (tenant: Tenant, provider: string) => Promise<RefreshClient | undefined> {
  // An OIDC provider (discovery): its token endpoint, and the alg its ID tokens are signed with
  // (a refresh with `openid` may return one, which openid-client checks; default RS256).
  const discovered = async (issuer: string, clientId: string, clientSecret: string | undefined): Promise<RefreshClient | undefined> => {
    const meta = await directory.metadata(issuer);
    if (!meta.tokenEndpoint) return undefined;
    const algs = meta.idTokenSigningAlgs ?? [];
    const idTokenAlg = algs.length === 0 || algs.includes('RS256') ? undefined : algs[0];
    return { issuer: meta.issuer, tokenEndpoint: meta.tokenEndpoint, clientId, clientSecret, idTokenAlg };
  };
  return async (tenant, provider) => {
    // `idp` of an OIDC tenant: the tenant's registered client (it may be public: no secret).
    if (provider === 'idp' && tenant.idpKind === 'oidc') {
      if (!tenant.idpClientId) return undefined;
      const secret = tenant.idpClientSecretSealed ? openTenantClientSecret(keyring, tenant.id, tenant.idpClientSecretSealed) : undefined;
      return discovered(tenant.idpIssuer, tenant.idpClientId, secret);
    }
    // A Google/GitHub IdP or a connected provider, as the tenant's client there.
    const u = upstreamOf(tenant, provider);
    if (!u) return undefined;
    const secret = openUpstreamSecret(keyring, u);
    if (u.kind === 'github') {
      const web = u.issuer.replace(/\/+$/, '');
      return { issuer: web, tokenEndpoint: `${web}/login/oauth/access_token`, clientId: u.clientId, clientSecret: secret, kind: 'github' };
    }
    return discovered(u.issuer, u.clientId, secret);
  };
}
