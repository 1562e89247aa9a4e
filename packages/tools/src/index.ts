export { headerParams, inputSchemaOf, jsonSchemaOf, X_MCP_HEADER } from './input-schema.js';
export type { HeaderParam, JsonObjectSchema } from './input-schema.js';
export { CONFORMANCE_TOOLS, createToolRegistry, parseArguments, REDACTED, redactArguments, sensitiveValues } from './registry.js';
export type { ToolRegistry } from './registry.js';
export { reconnectUrl } from './reconnect.js';
export { defineTool } from './tool.js';
export type {
  AnyTool,
  ToolAnnotations,
  ToolContentBlock,
  ToolContext,
  ToolDefinition,
  ToolServices,
  ToolUser,
  UpstreamCredential,
  UpstreamProvider,
} from './tool.js';
export { createUpstreamClient, mapBounded, UPSTREAM_APIS, upstreamClientFor, upstreamFailure } from './upstream.js';
export type { ApiProvider, UpstreamApi, UpstreamBases, UpstreamClient, UpstreamRequest, UpstreamResponse } from './upstream.js';
export { acceptedContent, CAPABILITY_OF, checkInputResponses, elicitText, MAX_INPUT_BYTES, tooLargeInput } from './input-requests.js';
export type { ClientInputCapabilities, InputDeclaration, InputRequest, InputRequests, InputResponses, ResponsesCheck } from './input-requests.js';
