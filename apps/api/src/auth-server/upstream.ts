import { idpSecretContext } from '@mcprt/auth';
import { open, type Keyring } from '@mcprt/crypto';
import type { Tenant } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';

export { idpSecretContext };

export type EgressFetch = (
  url: string,
  init?: { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; body?: unknown; signal?: AbortSignal | null },
) => Promise<Response>;

export interface UpstreamLoginStart {
  url: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

export interface UpstreamIdentity {
  issuer: string;
  subject: string;
  email: string | undefined;
  name: string | undefined;
  accessToken: string;
  refreshToken: string | undefined;
  expiresAt: Date | undefined;
  scopes: string[];
}

/**
 * Login federated to the tenant's IdP (any OIDC issuer, by discovery) with openid-client:
 * authorization code + PKCE S256 + state + nonce, the ID token checked (issuer, audience, nonce).
 * Discovery goes through the egress; configurations are cached per tenant and IdP settings.
 */
export class UpstreamLogin {
  readonly #configs = new LRUCache<string, Promise<oidc.Configuration>>({ max: 1_000, ttl: 3_600_000 });

  constructor(private readonly deps: { keyring: Keyring; fetch: EgressFetch; allowInsecure: boolean }) {}

  async #config(tenant: Tenant): Promise<oidc.Configuration> {
    if (!tenant.idpClientId || !tenant.idpClientSecretSealed) {
      throw new AppError('internal', 'idp_not_configured', "the tenant's identity provider client is not configured", { expose: true });
    }
    const key = `${tenant.id}\u0000${tenant.idpIssuer}\u0000${tenant.idpClientId}\u0000${tenant.idpClientSecretSealed}`;
    let pending = this.#configs.get(key);
    if (!pending) {
      const secret = open(this.deps.keyring, tenant.idpClientSecretSealed, idpSecretContext(tenant.id));
      pending = oidc.discovery(new URL(tenant.idpIssuer), tenant.idpClientId, secret, undefined, {
        execute: this.deps.allowInsecure ? [oidc.allowInsecureRequests] : [],
        [oidc.customFetch]: this.deps.fetch as oidc.CustomFetch,
      });
      pending.catch(() => this.#configs.delete(key));
      this.#configs.set(key, pending);
    }
    try {
      return await pending;
    } catch (cause) {
      throw new AppError('unavailable', 'idp_unavailable', "the tenant's identity provider cannot be reached; retry later", {
        cause,
        retryable: true,
        expose: true,
      });
    }
  }

  async start(tenant: Tenant, redirectUri: string): Promise<UpstreamLoginStart> {
    const config = await this.#config(tenant);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = oidc.randomNonce();
    const url = oidc.buildAuthorizationUrl(config, {
      redirect_uri: redirectUri,
      scope: tenant.idpScopes.join(' '),
      state,
      nonce,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    });
    return { url: url.href, state, nonce, codeVerifier };
  }

  /** Redeem the code at the IdP; state, nonce, PKCE, `iss` and the ID token are checked by openid-client. */
  async finish(tenant: Tenant, callbackUrl: URL, expected: { state: string; nonce: string; codeVerifier: string }): Promise<UpstreamIdentity> {
    const config = await this.#config(tenant);
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: expected.state,
        expectedNonce: expected.nonce,
        idTokenExpected: true,
      });
    } catch (cause) {
      throw new AppError('auth', 'upstream_login_failed', 'sign-in at the identity provider did not complete; start again from your app', {
        cause,
        expose: true,
        status: 400,
      });
    }
    const claims = tokens.claims();
    if (!claims?.sub) throw new AppError('auth', 'upstream_login_failed', 'the identity provider returned no subject', { expose: true, status: 400 });
    return {
      issuer: config.serverMetadata().issuer,
      subject: claims.sub,
      email: typeof claims.email === 'string' ? claims.email : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: typeof tokens.expires_in === 'number' ? new Date(Date.now() + tokens.expires_in * 1000) : undefined,
      scopes: (tokens.scope ?? tenant.idpScopes.join(' ')).split(' ').filter(Boolean),
    };
  }
}
