export { credentialVault } from './credential-vault.js';
export type { CredentialVault, UpstreamTokens } from './credential-vault.js';
export { IssuerDirectory, idpUnavailable, retryAfterSeconds } from './issuer-directory.js';
export type { IssuerDirectoryOptions, IssuerMetadata, OutageLog } from './issuer-directory.js';
export { verifyAccessToken } from './verify-access-token.js';
export type { VerifiedToken } from './verify-access-token.js';
export { VerifiedTokenCache } from './verified-token-cache.js';
export { openTenantClientSecret, redeemRefreshToken, REAUTH_REQUIRED, sealTenantClientSecret } from './token-refresh.js';
export type { RedeemOptions, RefreshClient, RefreshedTokens } from './token-refresh.js';
