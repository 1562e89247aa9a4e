import { AppError } from '@mcprt/errors';
import * as oidc from 'openid-client';
import type { ProviderKind } from './kind.js';

export const loginFailed = (message: string, cause?: unknown) =>
  new AppError('auth', 'upstream_login_failed', message, { expose: true, status: 400, ...(cause === undefined ? {} : { cause }) });

/**
 * Any OpenID Connect provider, found by discovery: a nonce and the ID token at the code exchange, the
 * account from the ID token's claims, refresh tokens redeemed at the discovered token endpoint with
 * the client secret in HTTP Basic (or none for a public client).
 */
export const oidcKind: ProviderKind = {
  kind: 'oidc',
  settings: {
    label: 'OpenID Connect',
    defaultIssuer: undefined,
    defaultScopes: ['openid', 'email'],
    needsOpenid: true,
    defaultApiBase: undefined,
    verifiableTokens: true,
    publicLoginClient: true,
  },
  oidc: true,
  scopeSeparator: 'space',
  reauthErrors: ['invalid_grant'],
  configure: (c, http) =>
    oidc.discovery(new URL(c.issuer), c.clientId, c.clientSecret, undefined, {
      execute: http.allowInsecure ? [oidc.allowInsecureRequests] : [],
      [oidc.customFetch]: http.fetch as oidc.CustomFetch,
    }),
  authorizeParams: () => ({}),
  async identity(_c, config, tokens) {
    const claims = tokens.claims();
    if (!claims?.sub) throw loginFailed('the identity provider returned no subject');
    return {
      issuer: config.serverMetadata().issuer,
      subject: claims.sub,
      email: typeof claims.email === 'string' ? claims.email : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
    };
  },
  async refreshEndpoint(issuer, metadata) {
    const meta = await metadata(issuer);
    if (!meta.tokenEndpoint) return undefined;
    // A refresh with `openid` may return an ID token, which openid-client checks against this alg.
    const algs = meta.idTokenSigningAlgs ?? [];
    const idTokenAlg = algs.length === 0 || algs.includes('RS256') ? undefined : algs[0];
    return { issuer: meta.issuer, tokenEndpoint: meta.tokenEndpoint, idTokenAlg };
  },
  clientAuth: (secret) => (secret === undefined ? oidc.None() : oidc.ClientSecretBasic(secret)),
  tokenFetch: (fetch) => fetch,
};
