/**
 * The one OAuth client registered at the dev IdP. Minted tokens are issued to it, and it may
 * redeem a minted refresh token at the real token endpoint (`client_secret_basic` or
 * `client_secret_post`). Fixed values on purpose: a quick-start CLI in another process must be
 * able to refresh without a side channel, and the IdP only ever runs on a developer's machine.
 */
export const DEV_CLIENT = Object.freeze({
  clientId: 'mcprt-dev-client',
  clientSecret: 'mcprt-dev-client-secret',
});
