import type { Keyring } from '@mcprt/keyring';
import { AppError } from '@mcprt/errors';
import { formatScopes, parseScopes } from '@mcprt/policy';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import { providerKind } from './kinds/index.js';
import type { AccountIdentity, KindClient, ProviderHttp } from './kinds/kind.js';
import { loginFailed } from './kinds/oidc.js';
import { openUpstreamSecret, type ResolvedUpstream } from './upstream-settings.js';

/** What the browser's transaction cookie must remember between the redirect to the provider and its callback. */
export interface UpstreamLoginStart {
  url: string;
  state: string;
  /** Empty for a provider without ID tokens (GitHub). */
  nonce: string;
  codeVerifier: string;
}

/** Who signed in at the provider, and the tokens the code exchange returned. */
export interface UpstreamIdentity extends AccountIdentity {
  accessToken: string;
  refreshToken: string | undefined;
  expiresAt: Date | undefined;
  scopes: string[];
}

/**
 * Sign-in and connect flows at a tenant's upstream provider with openid-client: authorization code +
 * PKCE S256 + state, and whatever the provider's kind adds (`kinds/`: a nonce and the ID token for
 * OIDC kinds, Google's offline-access parameters, GitHub's endpoints and `GET /user`). Discovery and
 * every request go through the egress; configurations are cached per provider settings.
 */
export class UpstreamLogin {
  readonly #configs = new LRUCache<string, Promise<oidc.Configuration>>({ max: 1_000, ttl: 3_600_000 });
  readonly #http: ProviderHttp;

  constructor(private readonly deps: { keyring: Keyring } & ProviderHttp) {
    this.#http = { fetch: deps.fetch, allowInsecure: deps.allowInsecure };
  }

  #client(u: ResolvedUpstream): KindClient {
    return { issuer: u.issuer, apiBase: u.apiBase, clientId: u.clientId, clientSecret: openUpstreamSecret(this.deps.keyring, u) };
  }

  async #config(u: ResolvedUpstream): Promise<oidc.Configuration> {
    const key = `${u.secretContext.tenantId}\u0000${u.provider}\u0000${u.kind}\u0000${u.issuer}\u0000${u.clientId}\u0000${u.clientSecretSealed}`;
    let pending = this.#configs.get(key);
    if (!pending) {
      pending = providerKind(u.kind).configure(this.#client(u), this.#http);
      pending.catch(() => this.#configs.delete(key));
      this.#configs.set(key, pending);
    }
    try {
      return await pending;
    } catch (cause) {
      throw new AppError('unavailable', 'idp_unavailable', 'the identity provider cannot be reached; retry later', { cause, retryable: true, expose: true });
    }
  }

  /** The redirect to the provider; `scopes` defaults to the provider's configured ones. */
  async start(u: ResolvedUpstream, redirectUri: string, scopes: string[] = u.scopes): Promise<UpstreamLoginStart> {
    const kind = providerKind(u.kind);
    const config = await this.#config(u);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = kind.oidc ? oidc.randomNonce() : '';
    const params: Record<string, string> = {
      redirect_uri: redirectUri,
      scope: formatScopes(scopes),
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
      ...(nonce ? { nonce } : {}),
      ...kind.authorizeParams(),
    };
    const url = oidc.buildAuthorizationUrl(config, params);
    return { url: url.href, state, nonce, codeVerifier };
  }

  /** Redeems the code: state, PKCE, `iss` (when the provider supports it), nonce and the ID token (OIDC) are checked by openid-client. */
  async finish(u: ResolvedUpstream, callbackUrl: URL, expected: { state: string; nonce: string; codeVerifier: string }): Promise<UpstreamIdentity> {
    const kind = providerKind(u.kind);
    const config = await this.#config(u);
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: expected.state,
        ...(kind.oidc ? { expectedNonce: expected.nonce } : {}),
        idTokenExpected: kind.oidc,
      });
    } catch (cause) {
      throw loginFailed('sign-in at the identity provider did not complete; start again from your app', cause);
    }
    const account = await kind.identity({ issuer: u.issuer, apiBase: u.apiBase }, config, tokens, this.#http);
    return {
      ...account,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: typeof tokens.expires_in === 'number' ? new Date(Date.now() + tokens.expires_in * 1000) : undefined,
      // No `scope` in the answer means "as requested" (RFC 6749 §5.1).
      scopes: tokens.scope !== undefined ? parseScopes(tokens.scope, kind.scopeSeparator) : u.scopes,
    };
  }
}
