import type { Credential, ToolCall } from '@mcprt/db';
import type { JobPayload } from '@mcprt/calls';

/**
 * The job for a recorded call. The credential's at-rest ciphertext is carried as is: it is already
 * sealed and bound to (tenant, user, credential), so the API never needs to open user tokens.
 */
export function buildJobPayload(call: ToolCall, credential: Credential | undefined): JobPayload {
  return {
    v: 1,
    callId: call.id,
    tenantId: call.tenantId,
    userId: call.userId,
    tool: call.tool,
    ...(call.requestId ? { requestId: call.requestId } : {}),
    ...(credential
      ? {
          credential: {
            id: credential.id,
            provider: credential.provider,
            sealedAccessToken: credential.accessTokenSealed,
            scopes: credential.scopes,
            expiresAt: credential.expiresAt ? credential.expiresAt.toISOString() : null,
          },
        }
      : {}),
  };
}
