export type { SealContext, SealFields } from './context.js';
export { credentialPurposes, sealPurposes, tenantSealedSecrets } from './purposes.js';
export type { SealHolding, SealPurpose, TenantSealedFields, TenantSealedSecret, TenantSecretSlot } from './purposes.js';
export type { CryptoErrorCode } from './errors.js';
export { formatKeyring, generateKey, Keyring, parseKeyring, parseKeyringEntries } from './keyring.js';
export type { KeyEntry } from './keyring.js';
export { open, reseal, seal, sealedKid } from './seal.js';
export { canonicalJson, openCallArguments, requestHash, requestHashMatches, sealCallArguments } from './call-seal.js';
export type { CallIds } from './call-seal.js';
