export { deadline } from './deadline.js';
export { createEgress, egressFetch, guardedLookup, isPrivateAddress, isPublicAddress, retryAfterMs, upstreamStatusError } from './egress.js';
export type { Egress, EgressInit, EgressOptions, EgressResponse, Resolver } from './egress.js';
export { createToolRegistry, jsonSchemaOf, parseArguments, REDACTED, redactArguments, sensitiveValues } from './registry.js';
export type { ToolRegistry } from './registry.js';
export { defineTool } from './tool.js';
export type { AnyTool, ToolContext, ToolDefinition, ToolServices, ToolUser, UpstreamCredential, UpstreamProvider } from './tool.js';
