export type { SealContext } from './context.js';
export type { CryptoErrorCode } from './errors.js';
export { formatKeyring, generateKey, Keyring, parseKeyring, parseKeyringEntries } from './keyring.js';
export type { KeyEntry } from './keyring.js';
export { open, reseal, seal, sealedKid } from './seal.js';
export { callArgumentsContext, canonicalJson, openCallArguments, requestHash, requestHashMatches, sealCallArguments } from './call-seal.js';
export type { CallIds } from './call-seal.js';
export {
  auditLeaf,
  auditPublicKeys,
  auditSigningKey,
  checkpointHash,
  checkpointPayloadOf,
  checkpointSignatureValid,
  GENESIS_HASH,
  publicKeyFromJwk,
  rowsHashOf,
  signCheckpoint,
} from './audit-chain.js';
export type { AuditPublicJwk, AuditRowForm, CheckpointPayload } from './audit-chain.js';
export { AuditChainVerifier } from './audit-verify.js';
export type { CheckpointRecord, Finding, FindingKind, VerifyReport } from './audit-verify.js';
export { EXPORT_FORMAT, verifyAuditExport } from './audit-export.js';
export type { ExportVerifyReport } from './audit-export.js';
