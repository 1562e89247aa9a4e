export { connectLinkFor, openConnectLink, reconnectUrl } from './connect-link.js';
export { credentialVault } from './credential-vault.js';
export type { CredentialVault, UpstreamTokens } from './credential-vault.js';
export { openTenantClientSecret, redeemRefreshToken, REAUTH_REQUIRED, sealTenantClientSecret } from './token-refresh.js';
export type { RedeemOptions, RefreshClient, RefreshedTokens } from './token-refresh.js';
export { GITHUB_API, GITHUB_WEB, openUpstreamSecret, splitScopes, upstreamOf } from './upstream-settings.js';
export type { ResolvedUpstream } from './upstream-settings.js';
export { githubTokenErrors } from './github-token-errors.js';
