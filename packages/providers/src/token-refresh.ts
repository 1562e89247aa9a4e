import { retryableStatus } from '@mcprt/egress';
import type { Tenant } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import type { Keyring } from '@mcprt/keyring';
import { parseScopes } from '@mcprt/policy';
import * as oidc from 'openid-client';
import { z } from 'zod';
import { isUpstreamKind, providerKind } from './kinds/index.js';
import type { IssuerFacts, UpstreamKind } from './kinds/kind.js';
import { openUpstreamSecret, upstreamOf } from './upstream-settings.js';

/** Where and as whom a credential's refresh token is redeemed: the provider's token endpoint and our client there. */
export interface RefreshClient {
  issuer: string;
  tokenEndpoint: string;
  clientId: string;
  /** Undefined: a public client (`none` authentication). */
  clientSecret: string | undefined;
  /** The alg of ID tokens the provider signs for this client (a refresh with `openid` may return one). Default RS256. */
  idTokenAlg?: string | undefined;
  /** The provider's kind (how the client authenticates, how errors and scopes are read). Default `oidc`. */
  kind?: UpstreamKind;
}

/** What a refresh returned, normalised. */
export interface RefreshedTokens {
  accessToken: string;
  /** Only when the provider rotated it (GitHub's single-use tokens); Google keeps the old one. */
  refreshToken: string | undefined;
  /** Null: the provider gave no `expires_in` (a token without expiry). */
  expiresAt: Date | null;
  /** Only when the provider said which scopes the new token has. */
  scopes: string[] | undefined;
}

/** The grant is gone (the user revoked it, the refresh token expired or was reused). Only a new sign-in helps. */
export const REAUTH_REQUIRED = 'reauth_required';

// The token endpoint's answer as far as we read it (openid-client has checked the rest).
const tokenResponse = z.looseObject({
  access_token: z.string().min(1),
  refresh_token: z.string().min(1).optional(),
  expires_in: z.number().positive().optional(),
  scope: z.string().optional(),
});

export interface RedeemOptions {
  allowInsecure: boolean;
  /** The egress fetch (address rules, deadline, body cap). */
  fetch: oidc.CustomFetch;
  timeoutMs?: number;
}

/**
 * Where tenant `tenant` redeems refresh tokens of its provider `provider` (`idp` = its login IdP),
 * as its client there; undefined when the tenant cannot refresh them (no such provider, no client,
 * or a provider that publishes no token endpoint). `metadata` is the issuer directory's discovery.
 */
export async function refreshClientOf(
  tenant: Tenant,
  provider: string,
  deps: { keyring: Keyring; metadata: (issuer: string) => Promise<IssuerFacts> },
): Promise<RefreshClient | undefined> {
  let where: { kind: UpstreamKind; issuer: string; clientId: string; clientSecret: string | undefined } | undefined;
  const u = upstreamOf(tenant, provider);
  if (u) where = { kind: u.kind, issuer: u.issuer, clientId: u.clientId, clientSecret: openUpstreamSecret(deps.keyring, u) };
  else if (provider === 'idp' && tenant.idpClientId && isPublicLoginClient(tenant)) {
    // The tenant's login client may be public (registered without a secret) where its kind allows it.
    where = { kind: tenant.idpKind, issuer: tenant.idpIssuer, clientId: tenant.idpClientId, clientSecret: undefined };
  }
  if (!where) return undefined;
  const endpoint = await providerKind(where.kind).refreshEndpoint(where.issuer, deps.metadata);
  return endpoint && { ...endpoint, clientId: where.clientId, clientSecret: where.clientSecret, kind: where.kind };
}

const isPublicLoginClient = (t: Tenant): t is Tenant & { idpKind: UpstreamKind } =>
  !t.idpClientSecretSealed && isUpstreamKind(t.idpKind) && providerKind(t.idpKind).settings.publicLoginClient;

/**
 * Redeem a refresh token at the provider's token endpoint with openid-client (RFC 6749 §6). The
 * token is handed in opened and leaves this function only inside the HTTPS request body. A grant
 * the provider no longer accepts → AppError `reauth_required` (not retryable); a network or 5xx
 * failure → retryable `credential_refresh_failed`.
 */
export async function redeemRefreshToken(client: RefreshClient, refreshToken: string, o: RedeemOptions): Promise<RefreshedTokens> {
  const kind = providerKind(client.kind ?? 'oidc');
  const config = new oidc.Configuration(
    { issuer: client.issuer, token_endpoint: client.tokenEndpoint },
    client.clientId,
    client.idTokenAlg ? { id_token_signed_response_alg: client.idTokenAlg } : undefined,
    kind.clientAuth(client.clientSecret),
  );
  if (o.allowInsecure) oidc.allowInsecureRequests(config);
  config[oidc.customFetch] = kind.tokenFetch(o.fetch);
  config.timeout = (o.timeoutMs ?? 10_000) / 1000;
  let raw: unknown;
  try {
    raw = await oidc.refreshTokenGrant(config, refreshToken);
  } catch (e) {
    if (e instanceof oidc.ResponseBodyError && kind.reauthErrors.includes(e.error))
      throw new AppError('policy', REAUTH_REQUIRED, `the provider no longer accepts this sign-in (${e.error})`, { cause: e, expose: true });
    const status = e instanceof oidc.ResponseBodyError ? e.status : undefined;
    // An answer the status table calls final (a 4xx but 429) is not retried; no answer at all is.
    const permanent = e instanceof oidc.ResponseBodyError && status !== undefined && !retryableStatus(status);
    throw new AppError('upstream', 'credential_refresh_failed', `refreshing the upstream token failed${status ? ` (${status})` : ''}`, {
      cause: e,
      expose: true,
      retryable: !permanent,
    });
  }
  const t = tokenResponse.safeParse(raw);
  if (!t.success)
    throw new AppError('upstream', 'credential_refresh_failed', 'the provider answered the refresh with an unexpected shape', {
      expose: true,
      retryable: true,
    });
  return {
    accessToken: t.data.access_token,
    refreshToken: t.data.refresh_token,
    expiresAt: t.data.expires_in ? new Date(Date.now() + t.data.expires_in * 1000) : null,
    scopes: t.data.scope ? parseScopes(t.data.scope, kind.scopeSeparator) : undefined,
  };
}
