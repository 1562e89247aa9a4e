export { startDevIdp } from './dev-idp.js';
export type { DevIdp, StartDevIdpOptions } from './dev-idp.js';
export { DEFAULT_DEV_ACCOUNTS, UnknownAccountError } from './accounts.js';
export type { DevAccount } from './accounts.js';
export { DEV_CLIENT } from './dev-client.js';
export { DEV_MINT_PATH } from './dev-mint-route.js';
export { DEFAULT_UPSTREAM_SCOPE } from './mint-request.js';
export { DevIdpRefusedError } from './production-guard.js';
export type { MintAccessTokenInput, MintUpstreamTokenInput, UpstreamToken } from './token-minter.js';
