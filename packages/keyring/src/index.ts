export type { SealContext, SealFields } from './context.js';
export { credentialPurposes, sealPurposes, tenantSealedSecrets } from './purposes.js';
export type { SealHolding, SealPurpose, TenantSealedFields, TenantSealedSecret } from './purposes.js';
export type { CryptoErrorCode } from './errors.js';
export { formatKeyring, generateKey, Keyring, parseKeyring, parseKeyringEntries } from './keyring.js';
export type { KeyEntry } from './keyring.js';
export { open, reseal, seal, sealedKid } from './seal.js';
export {
  canonicalJson,
  openCallArguments,
  openCallInput,
  openRequestState,
  requestHash,
  requestHashMatches,
  sealCallArguments,
  sealCallInput,
  sealRequestState,
} from './call-seal.js';
export type { CallIds, RequestStateBinding } from './call-seal.js';
