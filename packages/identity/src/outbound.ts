import { createEgress, type Egress } from '@mcprt/egress';
import { IssuerDirectory, type OutageLog } from './issuer-directory.js';

/** The settings both processes read from their configuration. */
export interface OutboundSettings {
  ALLOW_INSECURE_ISSUERS: boolean;
  JWKS_REFRESH_COOLDOWN_MS: number;
  IDP_FAILURE_CACHE_MS: number;
  /** Extra CA certificates (PEM) the egress trusts, beside those Node trusts by default. */
  EGRESS_EXTRA_CA_PEM?: string | undefined;
  /** Node's extra CA file (one of Node's defaults; kept beside EGRESS_EXTRA_CA_PEM, see `trustedCertificates`). */
  NODE_EXTRA_CA_CERTS?: string | undefined;
  /** Whether outbound requests may reach loopback and private addresses (`egressAllowsPrivate(config)`). */
  allowPrivate: boolean;
}

/**
 * The one egress a process uses for every outbound request (tools, issuer discovery, JWKS), and the
 * issuer directory on top of it, so no outbound request escapes the address rules. The API and the
 * worker build it the same way.
 */
export function createOutbound(s: OutboundSettings, log?: OutageLog): { egress: Egress; directory: IssuerDirectory } {
  const egress = createEgress({
    allowPrivate: s.allowPrivate,
    ...(s.EGRESS_EXTRA_CA_PEM ? { extraCaPem: s.EGRESS_EXTRA_CA_PEM } : {}),
    ...(s.NODE_EXTRA_CA_CERTS ? { nodeExtraCaCerts: s.NODE_EXTRA_CA_CERTS } : {}),
  });
  const directory = new IssuerDirectory({
    allowInsecure: s.ALLOW_INSECURE_ISSUERS,
    jwksCooldownMs: s.JWKS_REFRESH_COOLDOWN_MS,
    failureTtlMs: s.IDP_FAILURE_CACHE_MS,
    egress,
    ...(log ? { log } : {}),
  });
  return { egress, directory };
}
