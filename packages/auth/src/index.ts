export { credentialVault, idpSecretContext } from './credential-vault.js';
export type { CredentialVault, UpstreamTokens } from './credential-vault.js';
export { IssuerDirectory, idpUnavailable, retryAfterSeconds } from './issuer-directory.js';
export type { IssuerDirectoryOptions, IssuerMetadata, OutageLog } from './issuer-directory.js';
export { verifyAccessToken } from './verify-access-token.js';
export type { VerifiedToken } from './verify-access-token.js';
export { VerifiedTokenCache } from './verified-token-cache.js';
export { loadSigningKeys, mintBuiltinAccessToken, rotateSigningKey, SIGNING_ALG } from './as-signing-keys.js';
export type { TenantKeys } from './as-signing-keys.js';
