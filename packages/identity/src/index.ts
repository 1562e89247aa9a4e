export { IssuerDirectory, idpUnavailable, retryAfterSeconds } from './issuer-directory.js';
export type { IssuerDirectoryOptions, IssuerMetadata, OutageLog } from './issuer-directory.js';
export { createOutbound, type OutboundSettings } from './outbound.js';
export { verifyAccessToken } from './verify-access-token.js';
export type { VerifiedToken } from './verify-access-token.js';
export { VerifiedTokenCache } from './verified-token-cache.js';
export { loadSigningKeys, mintBuiltinAccessToken, rotateSigningKey, SIGNING_ALG } from './as-signing-keys.js';
export type { TenantKeys } from './as-signing-keys.js';
export { openOidcPayload, operatorStoreRow, sealOidcPayload, storeKey } from './oidc-store-codec.js';
export { apiKeySecretMatches, generateApiKey, parseApiKey } from './tenant-api-key.js';
export { enterpriseIdpSchema, ID_JAG_TYP, IdJagRefused, JWT_BEARER_GRANT, verifyIdJag } from './id-jag.js';
export type { IdJagExpectation, VerifiedIdJag } from './id-jag.js';
export {
  blockAsClient,
  clientKindOf,
  deleteAsClient,
  isClientBlocked,
  isMetadataDocumentClientId,
  listAsClients,
  listBlockedClients,
  rotateAsClientSecret,
  unblockAsClient,
} from './as-clients.js';
export type {
  AsClientKind,
  AsClientView,
  BlockAsClientInput,
  BlockedAsClient,
  DeleteAsClientInput,
  DeletedAsClient,
  RotateAsClientSecretInput,
  RotatedAsClient,
} from './as-clients.js';
