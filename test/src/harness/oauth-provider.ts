import type { OAuthClientProvider } from '@modelcontextprotocol/client';

/** Where the test MCP clients say they listen for the authorization response (never contacted). */
export const CLIENT_REDIRECT = 'http://127.0.0.1:9/oauth/callback';

/** The MCP client side of OAuth, as an app would implement it (in memory). */
export class MemoryOAuthProvider implements OAuthClientProvider {
  client: Awaited<ReturnType<NonNullable<OAuthClientProvider['clientInformation']>>>;
  stored: Awaited<ReturnType<OAuthClientProvider['tokens']>>;
  verifier = '';
  authorizationUrl: URL | undefined;
  /** Set to sign in with a Client ID Metadata Document (the URL is the client_id). */
  clientMetadataUrl: string | undefined;
  discovery: unknown;
  readonly redirectUrl = CLIENT_REDIRECT;
  readonly clientMetadata = {
    client_name: 'SDK Test Client',
    redirect_uris: [CLIENT_REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: NonNullable<typeof this.client>) {
    this.client = info;
  }
  tokens() {
    return this.stored;
  }
  saveTokens(t: NonNullable<typeof this.stored>) {
    this.stored = t;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  saveDiscoveryState(state: unknown) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery as never;
  }
}
