import type { egressFetch } from '@mcprt/egress';
import type { ScopeSeparator } from '@mcprt/policy';
import type * as oidc from 'openid-client';

/** The kinds of upstream OAuth provider a tenant can sign users in with or let them connect. */
export const UPSTREAM_KINDS = ['oidc', 'google', 'github'] as const;
export type UpstreamKind = (typeof UPSTREAM_KINDS)[number];

/** The egress fetch every provider request goes through (address rules, deadline, body cap). */
export type EgressFetch = ReturnType<typeof egressFetch>;

/** How this process talks to providers. */
export interface ProviderHttp {
  fetch: EgressFetch;
  /** Plain-HTTP issuers (development only). */
  allowInsecure: boolean;
}

/** Where a provider is and who we are there, as a kind needs it (the client secret already opened). */
export interface KindClient {
  issuer: string;
  /** A REST API base, for a kind that asks it who the account is. */
  apiBase: string | undefined;
  clientId: string;
  /** Undefined: a public client (`none` authentication). */
  clientSecret: string | undefined;
}

/** Who the upstream account is. */
export interface AccountIdentity {
  /** Our issuer key for the user row: the OIDC issuer, or the provider's web base. */
  issuer: string;
  subject: string;
  email: string | undefined;
  name: string | undefined;
}

/** What an issuer publishes, as far as a refresh needs it (its discovery document). */
export interface IssuerFacts {
  issuer: string;
  tokenEndpoint?: string | undefined;
  idTokenSigningAlgs?: readonly string[] | undefined;
}

/** Where refresh tokens are redeemed. */
export interface RefreshEndpoint {
  issuer: string;
  tokenEndpoint: string;
  /** The alg of ID tokens the provider signs for this client (a refresh with `openid` may return one). Default RS256. */
  idTokenAlg?: string | undefined;
}

/** What the operator's commands need to know of a kind. */
export interface KindSettings {
  /** How people call it in messages. */
  label: string;
  /** The issuer (or web base) to use when the operator names none; undefined: it must be given. */
  defaultIssuer: string | undefined;
  /** Scopes of a connectable provider of this kind when the operator names none. */
  defaultScopes: readonly string[];
  /** Its sign-in needs the `openid` scope (an ID token says who signed in). */
  needsOpenid: boolean;
  /** A REST API base of its own (GitHub's api host), and its default; undefined: it has none. */
  defaultApiBase: string | undefined;
  /** Its access tokens are JWTs an MCP server can verify, so a tenant may use it with external auth. */
  verifiableTokens: boolean;
  /** The tenant's login client may be public (no secret): refreshed with `none` client authentication. */
  publicLoginClient: boolean;
}

/**
 * One kind of upstream provider: everything that differs between kinds, behind one interface. The
 * flows themselves (PKCE, state, the single-flight refresh, the credential vault) are the same for
 * every kind and live outside: they ask the registry (`providerKind`) for the kind's implementation.
 */
export interface ProviderKind {
  readonly kind: UpstreamKind;
  readonly settings: KindSettings;
  /** OIDC: a nonce is sent and an ID token is expected and checked at the code exchange. */
  readonly oidc: boolean;
  /** How its token endpoint writes the granted `scope`. */
  readonly scopeSeparator: ScopeSeparator;
  /** Token-endpoint error codes that mean the grant is gone (only a new sign-in helps). */
  readonly reauthErrors: readonly string[];
  /** openid-client's configuration for the authorization-code flow (sign-in and connect). */
  configure(c: KindClient, http: ProviderHttp): Promise<oidc.Configuration>;
  /** Authorize-request parameters besides the common ones (redirect, scope, state, PKCE, nonce). */
  authorizeParams(): Record<string, string>;
  /** Who the account is, after the code exchange. */
  identity(
    at: Pick<KindClient, 'issuer' | 'apiBase'>,
    config: oidc.Configuration,
    tokens: oidc.TokenEndpointResponse & oidc.TokenEndpointResponseHelpers,
    http: ProviderHttp,
  ): Promise<AccountIdentity>;
  /** Where its refresh tokens are redeemed; undefined when the provider publishes no token endpoint. */
  refreshEndpoint(issuer: string, metadata: (issuer: string) => Promise<IssuerFacts>): Promise<RefreshEndpoint | undefined>;
  /** How our client authenticates at its token endpoint. */
  clientAuth(secret: string | undefined): oidc.ClientAuth;
  /** The fetch its token requests go through (a kind whose errors need reading adapts it). */
  tokenFetch(fetch: oidc.CustomFetch): oidc.CustomFetch;
}
