import { Client, StreamableHTTPClientTransport, UnauthorizedError, type ClientCapabilities, type OAuthClientProvider } from '@modelcontextprotocol/client';
import { expect } from 'vitest';
import { browse, type CookieJar } from './browser.js';

/** Where the test MCP clients say they listen for the authorization response (never contacted). */
export const CLIENT_REDIRECT = 'http://127.0.0.1:9/oauth/callback';

/** The MCP client side of OAuth, as an app would implement it (in memory). */
export class MemoryOAuthProvider implements OAuthClientProvider {
  client: Awaited<ReturnType<NonNullable<OAuthClientProvider['clientInformation']>>>;
  stored: Awaited<ReturnType<OAuthClientProvider['tokens']>>;
  verifier = '';
  authorizationUrl: URL | undefined;
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

export interface SignInOptions {
  /** `modern` negotiates 2026-07-28 (the SDK's auto mode); `legacy` speaks 2025-11-25 (its default). */
  era?: 'modern' | 'legacy';
  capabilities?: ClientCapabilities;
  /** The browser: its cookies keep the authorization server's session (connect links need it). */
  jar?: CookieJar;
}

/** The SDK client signs `account` in at a built-in tenant (login at its IdP, consent) and returns a connected client. */
export async function signIn(mcpUrl: string, account: string, o: SignInOptions = {}) {
  const auth = new MemoryOAuthProvider();
  const options = {
    ...(o.era === 'legacy' ? {} : { versionNegotiation: { mode: 'auto' as const } }),
    ...(o.capabilities ? { capabilities: o.capabilities } : {}),
  };
  const first = new Client({ name: 'mcprt-oauth-test', version: '1.0.0' }, options);
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: auth });
  await expect(first.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  expect(auth.authorizationUrl, 'the SDK asked the user agent to open the authorization URL').toBeDefined();
  const { callback, jar } = await browse(auth.authorizationUrl!, { account, stopAt: CLIENT_REDIRECT, ...(o.jar ? { jar: o.jar } : {}) });
  await transport.finishAuth(callback.searchParams);
  const client = new Client({ name: 'mcprt-oauth-test', version: '1.0.0' }, options);
  return { client, auth, callback, jar, connect: () => client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: auth })) };
}
