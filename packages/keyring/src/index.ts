export type { SealContext } from './context.js';
export type { CryptoErrorCode } from './errors.js';
export { formatKeyring, generateKey, Keyring, parseKeyring, parseKeyringEntries } from './keyring.js';
export type { KeyEntry } from './keyring.js';
export { open, reseal, seal, sealedKid } from './seal.js';
export { callArgumentsContext, canonicalJson, openCallArguments, requestHash, requestHashMatches, sealCallArguments } from './call-seal.js';
export type { CallIds } from './call-seal.js';
