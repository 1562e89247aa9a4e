import { randomBytes } from 'node:crypto';
import type { Configuration } from 'oidc-provider';

import type { AccountDirectory } from './accounts.js';
import { INTERACTION_PREFIX, type DevLoginClient } from './login-page.js';
import { DEV_CLIENT } from './dev-client.js';
import { addExtraAudiences, getResourceServerInfoFor } from './resource-server.js';
import { SIGNING_ALG, generateSigningJwks } from './signing-keys.js';

/** Paths of the endpoints the package hands out; pinned so they never drift from the defaults. */
export const ROUTES = Object.freeze({
  jwks: '/jwks',
  token: '/token',
  userinfo: '/me',
  authorization: '/auth',
  revocation: '/token/revocation',
  introspection: '/token/introspection',
});

const DAY = 24 * 60 * 60;

export interface ProviderConfigInput {
  accounts: AccountDirectory;
  accessTokenTtlSeconds: number;
  /** Relying parties that sign users in with the code flow at the dev login page (the built-in authorization server of a development tenant). */
  loginClients?: readonly DevLoginClient[];
  /**
   * Rotate the refresh token on every use (single-use refresh tokens, like GitHub's expiring tokens):
   * a rotated token used again revokes the grant (`invalid_grant`). Default: oidc-provider's rule
   * (confidential clients rotate only late in a token's life, so in practice never in a test).
   */
  rotateRefreshTokens?: boolean;
}

export function buildProviderConfig({ accounts, accessTokenTtlSeconds, loginClients = [], rotateRefreshTokens }: ProviderConfigInput): Configuration {
  return {
    ...(rotateRefreshTokens ? { rotateRefreshToken: true } : {}),
    clients: [
      ...loginClients.map((c) => ({
        client_id: c.clientId,
        client_secret: c.clientSecret,
        grant_types: ['authorization_code', 'refresh_token'],
        response_types: ['code' as const],
        redirect_uris: [...c.redirectUris],
      })),
      {
        client_id: DEV_CLIENT.clientId,
        client_secret: DEV_CLIENT.clientSecret,
        // No interactive login exists, so no authorization code flow: the client only refreshes.
        grant_types: ['refresh_token'],
        response_types: [],
        redirect_uris: [],
      },
    ],
    clientDefaults: { id_token_signed_response_alg: SIGNING_ALG },
    // The default (15 s) keeps accepting an expired token at userinfo for 15 s; tests of expiry
    // and refresh want the IdP to honour `exp` to the second, as the clocks here are one clock.
    clockTolerance: 0,
    jwks: generateSigningJwks(),
    cookies: { keys: [randomBytes(32).toString('base64url')] },
    findAccount: accounts.findAccount,
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name'],
    },
    scopes: ['openid', 'offline_access', 'email', 'profile'],
    formats: { customizers: { jwt: addExtraAudiences } },
    routes: { ...ROUTES },
    interactions: { url: (_ctx, interaction) => `${INTERACTION_PREFIX}${interaction.uid}` },
    pkce: { required: () => true },
    // A refresh token for login clients too (a real IdP gives one with offline access).
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    features: {
      // Off: the quick-start login pages must never be reachable; tokens are minted instead.
      devInteractions: { enabled: false },
      userinfo: { enabled: true },
      revocation: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        getResourceServerInfo: getResourceServerInfoFor(accessTokenTtlSeconds),
        // Tokens carrying `openid` and no `resource` are for the userinfo endpoint.
        useGrantedResource: () => false,
      },
    },
    ttl: {
      AccessToken: (_ctx, token) => token.resourceServer?.accessTokenTTL ?? accessTokenTtlSeconds,
      AuthorizationCode: 60,
      ClientCredentials: accessTokenTtlSeconds,
      IdToken: 60 * 60,
      Interaction: 60 * 60,
      Grant: 14 * DAY,
      RefreshToken: 14 * DAY,
      Session: 14 * DAY,
    },
  };
}
