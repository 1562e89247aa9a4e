export { deadline } from './deadline.js';
export { createEgress, egressFetch, guardedLookup, isPrivateAddress, isPublicAddress, retryAfterMs, upstreamStatusError } from './egress.js';
export type { Egress, EgressInit, EgressOptions, EgressResponse, Resolver } from './egress.js';
