import type Provider from 'oidc-provider';
import type { Client, ResourceServer, ResourceServerInstance } from 'oidc-provider';

import type { AccountDirectory } from './accounts.js';
import { DEV_CLIENT } from './dev-client.js';
import { describeResourceServer, EXTRA_AUDIENCES, isHttpUrl } from './resource-server.js';
import { isScopeString } from '@mcprt/policy';

export interface MintAccessTokenInput {
  sub: string;
  /** The resource server the token is for, e.g. `http://127.0.0.1:3000/t/acme/mcp`; becomes `aud`. */
  audience: string;
  /**
   * More `aud` values: when given (even empty), the token's `aud` is the array
   * `[audience, ...extraAudiences]` instead of the string `audience` — a multi-audience token as some
   * IdPs issue (oidc-provider's own endpoints issue one audience only). Tests use it to show that
   * such a token is refused.
   */
  extraAudiences?: readonly string[];
  scope: string;
  ttlSeconds?: number;
  /** Issue a token whose `exp` is already 5 minutes past (beyond any usual clock tolerance). */
  alreadyExpired?: boolean;
}

export interface MintUpstreamTokenInput {
  sub: string;
  /** Must include `openid` for the userinfo endpoint to accept the token. */
  scope: string;
  ttlSeconds?: number;
}

export interface UpstreamToken {
  accessToken: string;
  refreshToken?: string;
  expiresAt: Date;
  scope: string;
}

type ResourceServerClass = new (identifier: string, info: ResourceServer) => ResourceServerInstance;

const EXPIRED_AGO_SECONDS = 300;
// Minted tokens look like the outcome of an ordinary login.
const GRANT_TYPE = 'authorization_code';

const epochSeconds = (): number => Math.floor(Date.now() / 1000);

/**
 * Issues tokens through oidc-provider's own models, so they are signed with (or stored by) the
 * provider exactly as its token endpoint would. The models need no request context: every
 * context-dependent helper they call (TTL, extra claims) is either bypassed by setting `iat`/`exp`
 * or configured to ignore `ctx`.
 */
export class TokenMinter {
  readonly #provider: Provider;
  readonly #accounts: AccountDirectory;
  readonly #defaultTtlSeconds: number;

  constructor(provider: Provider, accounts: AccountDirectory, defaultTtlSeconds: number) {
    this.#provider = provider;
    this.#accounts = accounts;
    this.#defaultTtlSeconds = requireTtl(defaultTtlSeconds);
  }

  /** A JWT access token for a resource server: `iss`, `aud`, `sub`, `scope`, `exp`, `jti`. */
  async mintAccessToken(input: MintAccessTokenInput): Promise<string> {
    const account = this.#accounts.require(input.sub);
    if (!isHttpUrl(input.audience)) throw new TypeError('audience must be an absolute http(s) URL');
    if (input.extraAudiences?.some((a) => !isHttpUrl(a))) throw new TypeError('extraAudiences must be absolute http(s) URLs');
    requireScope(input.scope);
    const ttl = requireTtl(input.ttlSeconds ?? this.#defaultTtlSeconds);
    const client = await this.#client();

    const grant = new this.#provider.Grant({ accountId: account.sub, clientId: client.clientId });
    grant.addResourceScope(input.audience, input.scope);
    const grantId = await grant.save();

    const now = epochSeconds();
    const [iat, exp] = input.alreadyExpired ? [now - 2 * EXPIRED_AGO_SECONDS, now - EXPIRED_AGO_SECONDS] : [now, now + ttl];
    const resourceServer = new (resourceServerClass(this.#provider))(input.audience, describeResourceServer(input.audience, input.scope, ttl));
    const token = new this.#provider.AccessToken({
      accountId: account.sub,
      client,
      grantId,
      gty: GRANT_TYPE,
      scope: input.scope,
      resourceServer,
      iat,
      exp,
    });
    if (input.extraAudiences) EXTRA_AUDIENCES.set(token, input.extraAudiences);
    return token.save();
  }

  /**
   * An opaque, audience-less access token (what an upstream login would hand our API) that the
   * provider's userinfo endpoint accepts, plus a refresh token the dev client can redeem.
   */
  async mintUpstreamToken(input: MintUpstreamTokenInput): Promise<UpstreamToken> {
    const account = this.#accounts.require(input.sub);
    requireScope(input.scope);
    const ttl = requireTtl(input.ttlSeconds ?? this.#defaultTtlSeconds);
    const client = await this.#client();

    const grant = new this.#provider.Grant({ accountId: account.sub, clientId: client.clientId });
    // userinfo answers only for scopes the grant holds as OpenID scopes.
    if (input.scope) grant.addOIDCScope(input.scope);
    const grantId = await grant.save();

    const iat = epochSeconds();
    const exp = iat + ttl;
    const common = { accountId: account.sub, client, grantId, gty: GRANT_TYPE, scope: input.scope };
    const accessToken = await new this.#provider.AccessToken({ ...common, iat, exp }).save();
    const refreshToken = await new this.#provider.RefreshToken({ ...common, iat }).save();
    return { accessToken, refreshToken, expiresAt: new Date(exp * 1000), scope: input.scope };
  }

  async #client(): Promise<Client> {
    const client = await this.#provider.Client.find(DEV_CLIENT.clientId);
    if (!client) throw new Error(`dev client ${DEV_CLIENT.clientId} is not registered`);
    return client;
  }
}

/**
 * oidc-provider exposes its ResourceServer class as `provider.ResourceServer` (lib/provider.js)
 * and its grants build `at.resourceServer` with it; @types/oidc-provider 9.12.1 does not declare it.
 */
function resourceServerClass(provider: Provider): ResourceServerClass {
  const cls = (provider as unknown as { ResourceServer?: ResourceServerClass }).ResourceServer;
  if (typeof cls !== 'function') throw new Error('oidc-provider does not expose ResourceServer');
  return cls;
}

function requireTtl(ttlSeconds: number): number {
  if (!Number.isSafeInteger(ttlSeconds) || ttlSeconds <= 0) {
    throw new TypeError('ttlSeconds must be a positive integer');
  }
  return ttlSeconds;
}

function requireScope(scope: string): void {
  if (typeof scope !== 'string' || !isScopeString(scope, { allowEmpty: true })) {
    throw new TypeError('scope must be space-separated scope tokens (RFC 6749 §3.3)');
  }
}
