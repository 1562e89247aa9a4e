export { guardedLookup, isPrivateAddress, isPublicAddress } from './addresses.js';
export type { Resolver } from './addresses.js';
export { deadline } from './deadline.js';
export { createEgress, egressFetch } from './egress.js';
export type { Egress, EgressInit, EgressOptions, EgressResponse } from './egress.js';
export { outcomeOf, retryableStatus, retryAfterMs, upstreamError, upstreamStatusError } from './status.js';
export type { UpstreamAnswer, UpstreamOutcome } from './status.js';
