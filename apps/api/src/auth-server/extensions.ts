/**
 * The MCP authorization extensions a built-in tenant's authorization server implements, advertised
 * in the server's capabilities (`extensions`, 2026-07-28) next to the grant types its metadata lists
 * (`grant_types_supported`: `client_credentials`, `urn:ietf:params:oauth:grant-type:jwt-bearer`).
 * External-mode tenants advertise none: their IdP issues the tokens.
 */
export const CLIENT_CREDENTIALS_EXTENSION = 'io.modelcontextprotocol/oauth-client-credentials';
export const ENTERPRISE_MANAGED_EXTENSION = 'io.modelcontextprotocol/enterprise-managed-authorization';

export const BUILTIN_AUTH_EXTENSIONS: Record<string, object> = {
  [CLIENT_CREDENTIALS_EXTENSION]: {},
  [ENTERPRISE_MANAGED_EXTENSION]: {},
};
