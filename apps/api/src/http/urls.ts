/** The URLs a tenant is known by. The MCP resource URL is the audience its access tokens must carry. */
export const mcpResourceUrl = (publicUrl: string, slug: string) => `${publicUrl}/t/${slug}/mcp`;

/** RFC 9728 §3.1: the well-known segment is inserted between host and path. */
export const resourceMetadataUrl = (publicUrl: string, slug: string) => `${publicUrl}/.well-known/oauth-protected-resource/t/${slug}/mcp`;

export const toolCallUrl = (publicUrl: string, slug: string, callId: string) => `${publicUrl}/t/${slug}/v1/tool-calls/${callId}`;

/** The page where a user approves or denies one of their calls that waits for their approval. */
export const approvalPageUrl = (publicUrl: string, slug: string, callId: string) => `${publicUrl}/t/${slug}/approvals/${callId}`;
