import { randomBytes } from 'node:crypto';
import type { OAuthClientProvider } from '@modelcontextprotocol/client';
import type { StoredClient, StoredTokens, TokenStore } from './token-store.js';

type ClientInfo = Awaited<ReturnType<OAuthClientProvider['clientInformation']>>;
type Tokens = Awaited<ReturnType<OAuthClientProvider['tokens']>>;
type Discovery = Awaited<ReturnType<NonNullable<OAuthClientProvider['discoveryState']>>>;

/**
 * The MCP SDK client's OAuth hooks for a terminal: a public native client (RFC 8252: PKCE, loopback
 * redirect, `application_type: native` so the AS accepts any loopback port), registered once per
 * server (dynamic registration) and remembered in the token file with the user's tokens. The PKCE
 * verifier and `state` live only in memory, for the one authorization this run started.
 */
export class CliOAuthProvider implements OAuthClientProvider {
  #verifier = '';
  /**
   * The callback of the authorization request this run started, awaited from the moment its `state`
   * is made (so a browser faster than the SDK is not turned away). Undefined: none pending.
   */
  pending: Promise<URLSearchParams> | undefined;

  constructor(
    private readonly o: {
      store: TokenStore;
      serverUrl: string;
      user: string;
      redirectUrl: string;
      /** Told the authorization URL to open (print it; a test drives it with a browser). */
      onAuthorizationUrl: (url: URL) => void | Promise<void>;
      /** Starts waiting for the loopback callback carrying `state`. */
      expectCallback: (state: string) => Promise<URLSearchParams>;
    },
  ) {}

  get redirectUrl(): string {
    return this.o.redirectUrl;
  }

  get clientMetadata() {
    return {
      client_name: 'mcprt CLI',
      // The first run's port; later runs use other ports, which the AS allows for a native client.
      redirect_uris: [this.o.redirectUrl],
      application_type: 'native',
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    };
  }

  state(): string {
    const state = randomBytes(24).toString('base64url');
    const pending = this.o.expectCallback(state);
    pending.catch(() => undefined); // a timeout nobody awaits is not an unhandled rejection
    this.pending = pending;
    return state;
  }

  clientInformation(): ClientInfo {
    return this.o.store.client(this.o.serverUrl) as ClientInfo;
  }
  saveClientInformation(info: NonNullable<ClientInfo>): void {
    this.o.store.setClient(this.o.serverUrl, info as StoredClient);
  }
  tokens(): Tokens {
    return this.o.store.tokens(this.o.serverUrl, this.o.user) as Tokens;
  }
  saveTokens(t: NonNullable<Tokens>): void {
    this.o.store.setTokens(this.o.serverUrl, this.o.user, t as StoredTokens);
  }
  async redirectToAuthorization(url: URL): Promise<void> {
    await this.o.onAuthorizationUrl(url);
  }
  saveCodeVerifier(v: string): void {
    this.#verifier = v;
  }
  codeVerifier(): string {
    return this.#verifier;
  }
  saveDiscoveryState(state: NonNullable<Discovery>): void {
    this.o.store.setDiscovery(this.o.serverUrl, state as unknown as Record<string, unknown>);
  }
  discoveryState(): Discovery {
    return this.o.store.discovery(this.o.serverUrl) as Discovery;
  }
  invalidateCredentials(scope: 'all' | 'client' | 'tokens' | 'verifier' | 'discovery'): void {
    if (scope === 'all' || scope === 'client') this.o.store.setClient(this.o.serverUrl, undefined);
    if (scope === 'all' || scope === 'tokens') this.o.store.setTokens(this.o.serverUrl, this.o.user, undefined);
    if (scope === 'all' || scope === 'discovery') this.o.store.setDiscovery(this.o.serverUrl, undefined);
    if (scope === 'all' || scope === 'verifier') this.#verifier = '';
  }
}
