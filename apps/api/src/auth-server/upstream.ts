import { githubTokenErrors, openUpstreamSecret, splitScopes, type ResolvedUpstream } from '@mcprt/providers';
import type { Keyring } from '@mcprt/keyring';
import { AppError } from '@mcprt/errors';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';
import { z } from 'zod';

export type EgressFetch = (
  url: string,
  init?: { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; body?: unknown; signal?: AbortSignal | null },
) => Promise<Response>;

/** What the browser's transaction cookie must remember between the redirect to the provider and its callback. */
export interface UpstreamLoginStart {
  url: string;
  state: string;
  /** Empty for a provider without ID tokens (GitHub). */
  nonce: string;
  codeVerifier: string;
}

export interface UpstreamIdentity {
  /** Our issuer key for the user row: the OIDC issuer, or GitHub's web base. */
  issuer: string;
  subject: string;
  email: string | undefined;
  name: string | undefined;
  accessToken: string;
  refreshToken: string | undefined;
  expiresAt: Date | undefined;
  scopes: string[];
}

// GitHub's `GET /user` as far as we read it (shared/reference/upstream-apis.md §5.1).
const githubUser = z.looseObject({ id: z.number().int(), login: z.string(), name: z.string().nullish(), email: z.string().nullish() });

const loginFailed = (message: string, cause?: unknown) =>
  new AppError('auth', 'upstream_login_failed', message, { expose: true, status: 400, ...(cause === undefined ? {} : { cause }) });

/**
 * Sign-in and connect flows at a tenant's upstream provider with openid-client: authorization code +
 * PKCE S256 + state (+ nonce and the ID token checked where the provider is OIDC), per kind:
 *
 * - `oidc`: any issuer, by discovery.
 * - `google`: OIDC by discovery, plus `access_type=offline` and `prompt=consent` (Google issues a
 *   refresh token only so) and `include_granted_scopes=true` (incremental authorization: the new
 *   token carries the scopes granted before too).
 * - `github`: OAuth 2 without OIDC at explicit endpoints (`{web}/login/oauth/authorize`,
 *   `{web}/login/oauth/access_token`, client secret in the body as GitHub documents), no ID token:
 *   the identity comes from `GET {api}/user` with the new token; scopes answered comma-separated.
 *
 * Discovery and every request go through the egress; configurations are cached per provider settings.
 */
export class UpstreamLogin {
  readonly #configs = new LRUCache<string, Promise<oidc.Configuration>>({ max: 1_000, ttl: 3_600_000 });

  constructor(private readonly deps: { keyring: Keyring; fetch: EgressFetch; allowInsecure: boolean }) {}

  async #config(u: ResolvedUpstream): Promise<oidc.Configuration> {
    const key = `${u.secretContext.tenantId}\u0000${u.provider}\u0000${u.kind}\u0000${u.issuer}\u0000${u.clientId}\u0000${u.clientSecretSealed}`;
    let pending = this.#configs.get(key);
    if (!pending) {
      const secret = openUpstreamSecret(this.deps.keyring, u);
      pending =
        u.kind === 'github'
          ? Promise.resolve(this.#github(u, secret))
          : oidc.discovery(new URL(u.issuer), u.clientId, secret, undefined, {
              execute: this.deps.allowInsecure ? [oidc.allowInsecureRequests] : [],
              [oidc.customFetch]: this.deps.fetch as oidc.CustomFetch,
            });
      pending.catch(() => this.#configs.delete(key));
      this.#configs.set(key, pending);
    }
    try {
      return await pending;
    } catch (cause) {
      throw new AppError('unavailable', 'idp_unavailable', 'the identity provider cannot be reached; retry later', { cause, retryable: true, expose: true });
    }
  }

  #github(u: ResolvedUpstream, secret: string): oidc.Configuration {
    const web = u.issuer.replace(/\/+$/, '');
    const config = new oidc.Configuration(
      { issuer: web, authorization_endpoint: `${web}/login/oauth/authorize`, token_endpoint: `${web}/login/oauth/access_token` },
      u.clientId,
      undefined,
      oidc.ClientSecretPost(secret),
    );
    if (this.deps.allowInsecure) oidc.allowInsecureRequests(config);
    config[oidc.customFetch] = githubTokenErrors(this.deps.fetch as oidc.CustomFetch);
    return config;
  }

  /** The redirect to the provider; `scopes` defaults to the provider's configured ones. */
  async start(u: ResolvedUpstream, redirectUri: string, scopes: string[] = u.scopes): Promise<UpstreamLoginStart> {
    const config = await this.#config(u);
    const codeVerifier = oidc.randomPKCECodeVerifier();
    const state = oidc.randomState();
    const nonce = u.kind === 'github' ? '' : oidc.randomNonce();
    const params: Record<string, string> = {
      redirect_uri: redirectUri,
      scope: scopes.join(' '),
      state,
      code_challenge: await oidc.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: 'S256',
    };
    if (nonce) params.nonce = nonce;
    if (u.kind === 'google') Object.assign(params, { access_type: 'offline', prompt: 'consent', include_granted_scopes: 'true' });
    const url = oidc.buildAuthorizationUrl(config, params);
    return { url: url.href, state, nonce, codeVerifier };
  }

  /** Redeems the code: state, PKCE, `iss` (when the provider supports it), nonce and the ID token (OIDC) are checked by openid-client. */
  async finish(u: ResolvedUpstream, callbackUrl: URL, expected: { state: string; nonce: string; codeVerifier: string }): Promise<UpstreamIdentity> {
    const config = await this.#config(u);
    const oidcKind = u.kind !== 'github';
    let tokens;
    try {
      tokens = await oidc.authorizationCodeGrant(config, callbackUrl, {
        pkceCodeVerifier: expected.codeVerifier,
        expectedState: expected.state,
        ...(oidcKind ? { expectedNonce: expected.nonce } : {}),
        idTokenExpected: oidcKind,
      });
    } catch (cause) {
      throw loginFailed('sign-in at the identity provider did not complete; start again from your app', cause);
    }
    const common = {
      accessToken: tokens.access_token,
      refreshToken: tokens.refresh_token,
      expiresAt: typeof tokens.expires_in === 'number' ? new Date(Date.now() + tokens.expires_in * 1000) : undefined,
      // No `scope` in the answer means "as requested" (RFC 6749 §5.1).
      scopes: tokens.scope !== undefined ? splitScopes(tokens.scope) : u.scopes,
    };
    if (!oidcKind) return { ...(await this.#githubIdentity(u, tokens.access_token)), ...common };
    const claims = tokens.claims();
    if (!claims?.sub) throw loginFailed('the identity provider returned no subject');
    return {
      issuer: config.serverMetadata().issuer,
      subject: claims.sub,
      email: typeof claims.email === 'string' ? claims.email : undefined,
      name: typeof claims.name === 'string' ? claims.name : undefined,
      ...common,
    };
  }

  /** GitHub has no ID token: who signed in is `GET /user` with the new token (its numeric id is the stable subject; logins can be renamed). */
  async #githubIdentity(u: ResolvedUpstream, accessToken: string): Promise<Pick<UpstreamIdentity, 'issuer' | 'subject' | 'email' | 'name'>> {
    let res: Response;
    try {
      res = await this.deps.fetch(`${u.apiBase!.replace(/\/+$/, '')}/user`, {
        headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' },
      });
    } catch (cause) {
      throw new AppError('unavailable', 'idp_unavailable', 'GitHub cannot be reached; retry later', { cause, retryable: true, expose: true });
    }
    if (res.status !== 200) {
      await res.arrayBuffer().catch(() => undefined);
      throw loginFailed(`GitHub did not say who signed in (${res.status}); start again from your app`);
    }
    const user = githubUser.safeParse(await res.json().catch(() => undefined));
    if (!user.success) throw loginFailed('GitHub answered /user with an unexpected shape');
    return {
      issuer: u.issuer.replace(/\/+$/, ''),
      subject: String(user.data.id),
      email: user.data.email ?? undefined,
      name: user.data.name ?? user.data.login,
    };
  }
}
