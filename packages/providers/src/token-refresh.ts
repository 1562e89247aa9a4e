import { open, seal, sealPurposes, type Keyring } from '@mcprt/keyring';
import { retryableStatus } from '@mcprt/egress';
import { AppError } from '@mcprt/errors';
import { githubTokenErrors } from './github-token-errors.js';
import * as oidc from 'openid-client';
import { z } from 'zod';

/** Where and as whom a credential's refresh token is redeemed: the provider's token endpoint and our client there. */
export interface RefreshClient {
  issuer: string;
  tokenEndpoint: string;
  clientId: string;
  /** Undefined: a public client (`none` authentication). */
  clientSecret: string | undefined;
  /** The alg of ID tokens the provider signs for this client (a refresh with `openid` may return one). Default RS256. */
  idTokenAlg?: string | undefined;
  /** `github`: the secret goes in the form body as GitHub documents, and its 200-with-`error` answers are read as errors. */
  kind?: 'github';
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

/** `invalid_grant`: the user revoked the grant, the refresh token expired or was reused. Only a new sign-in helps. */
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
 * Redeem a refresh token at the provider's token endpoint with openid-client (RFC 6749 §6). The
 * token is handed in opened and leaves this function only inside the HTTPS request body.
 * `invalid_grant` → AppError `reauth_required` (not retryable); a network or 5xx failure →
 * retryable `credential_refresh_failed`.
 */
export async function redeemRefreshToken(client: RefreshClient, refreshToken: string, o: RedeemOptions): Promise<RefreshedTokens> {
  const auth =
    client.clientSecret === undefined
      ? oidc.None()
      : client.kind === 'github'
        ? oidc.ClientSecretPost(client.clientSecret)
        : oidc.ClientSecretBasic(client.clientSecret);
  const config = new oidc.Configuration(
    { issuer: client.issuer, token_endpoint: client.tokenEndpoint },
    client.clientId,
    client.idTokenAlg ? { id_token_signed_response_alg: client.idTokenAlg } : undefined,
    auth,
  );
  if (o.allowInsecure) oidc.allowInsecureRequests(config);
  config[oidc.customFetch] = client.kind === 'github' ? githubTokenErrors(o.fetch) : o.fetch;
  config.timeout = (o.timeoutMs ?? 10_000) / 1000;
  let raw: unknown;
  try {
    raw = await oidc.refreshTokenGrant(config, refreshToken);
  } catch (e) {
    // GitHub names the same case `bad_refresh_token` (single-use refresh tokens, ~6 months).
    if (e instanceof oidc.ResponseBodyError && (e.error === 'invalid_grant' || e.error === 'bad_refresh_token'))
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
    // GitHub answers comma-separated.
    scopes: t.data.scope ? t.data.scope.split(/[\s,]+/).filter(Boolean) : undefined,
  };
}

/**
 * A tenant's IdP client secret, sealed at rest (`tenants.idp_client_secret_sealed`), bound to the
 * tenant (purpose `idp_client_secret`): the one context the CLI seals with (`tenant set-idp`), the
 * API's federated login and the worker's refresh open with.
 */
const clientSecretContext = sealPurposes.idp_client_secret.context;
export const sealTenantClientSecret = (keyring: Keyring, tenantId: string, secret: string): string => seal(keyring, secret, clientSecretContext(tenantId));
export const openTenantClientSecret = (keyring: Keyring, tenantId: string, sealed: string): string => open(keyring, sealed, clientSecretContext(tenantId));
