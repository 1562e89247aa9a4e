import type { WorkerConfig } from '@mcprt/config';
import type { Egress } from '@mcprt/egress';
import type { IssuerDirectory } from '@mcprt/identity';
import { open, sealPurposes, type Keyring } from '@mcprt/keyring';
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
