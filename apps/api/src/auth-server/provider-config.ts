import { isClientBlocked, SIGNING_ALG } from '@mcprt/identity';
import type { TenantScope } from '@mcprt/calls';
import type { OidcStoreRepository, Tenant } from '@mcprt/db';
import type { Keyring } from '@mcprt/keyring';
import Provider, { errors, type Configuration, type ResourceServer } from 'oidc-provider';
import { renderProviderError } from '../http/render-error.js';
import { postgresAdapter } from './adapter.js';
import { checkOperatorOnlyMetadata, clientCredentialsScope, jwtCustomizer, SERVICE_SCOPES_PROPERTY } from './machine-clients.js';
import { esc, page, pageCsp } from './pages.js';

/** Lifetimes (seconds). Access tokens are JWTs, not stored, so not revocable: keep them short. */
const TTL = { accessToken: 600, code: 60, interaction: 600, session: 86_400, grant: 14 * 86_400, refreshToken: 14 * 86_400 };

/** oidc-provider's outbound fetch (Client ID Metadata Documents): the egress helper's. */
export type ProviderFetch = (
  url: string,
  init?: { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; body?: unknown; signal?: AbortSignal | null },
) => Promise<Response>;

/** What one tenant's provider is configured from. */
export interface ProviderInput {
  tenant: Tenant;
  /** The tenant's MCP resource URL: the one audience its access tokens carry. */
  resource: string;
  /** The scopes a grant may hold: the tenant's tool scopes and the history scopes. */
  resourceScopes: string[];
  privateJwks: unknown[];
  cookieKeys: string[];
  keyring: Keyring;
  repo: OidcStoreRepository;
  scope: TenantScope;
  fetch: ProviderFetch;
}

/**
 * One built-in tenant's oidc-provider configuration: its store (tenant-scoped, sealed), keys, cookie
 * names and path, the interaction pages, the accounts (our users), the clients (dynamic registration
 * and Client ID Metadata Documents, PKCE required), the one resource (RFC 8707) and the lifetimes.
 */
export function providerConfiguration(p: ProviderInput): Configuration {
  const { tenant, resourceScopes } = p;
  const base = `/t/${tenant.slug}`;
  const cookie = { path: base, httpOnly: true, sameSite: 'lax' as const };
  return {
    adapter: postgresAdapter(tenant.id, p.repo, p.keyring),
    jwks: { keys: p.privateJwks as NonNullable<Configuration['jwks']>['keys'] },
    cookies: {
      keys: p.cookieKeys,
      names: { session: `mcprt_as_${tenant.slug}`, interaction: `mcprt_as_i_${tenant.slug}`, resume: `mcprt_as_r_${tenant.slug}` },
      long: cookie,
      short: cookie,
    },
    interactions: { url: (_ctx, interaction) => `${base}/interaction/${interaction.uid}` },
    // The account id is our user id (a UUID): the user row was created at login from the IdP's (issuer, subject).
    findAccount: async (_ctx, id) => {
      if (!UUID.test(id)) return undefined;
      const user = await p.scope.users.byId(id);
      return user ? { accountId: user.id, claims: () => ({ sub: user.id }) } : undefined;
    },
    claims: { openid: ['sub'] },
    scopes: ['openid', 'offline_access', ...resourceScopes],
    responseTypes: ['code'],
    pkce: { required: () => true },
    clientDefaults: {
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      id_token_signed_response_alg: SIGNING_ALG,
    },
    extraClientMetadata,
    formats: { customizers: { jwt: jwtCustomizer((e) => p.scope.audit.append(e)) } },

    features: features(p),

    // Refresh tokens for every client allowed the grant (not only with offline_access), rotated on use;
    // oidc-provider revokes the grant when a rotated one is presented again.
    issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
    rotateRefreshToken: true,
    ttl: PROVIDER_TTL,
    fetch: oncePerRequest(p.fetch) as unknown as Configuration['fetch'],
    // Our page instead of the library's: escaped, strict CSP, no stack or internals.
    renderError: (ctx, out) => renderProviderError(ctx, out),
  };
}

// A client's registered `scope` would become a per-client allow-list (later step-up → invalid_scope):
// what a client gets is decided by the user's consent and the tenant's tools, not its registration.
const extraClientMetadata: Configuration['extraClientMetadata'] = {
  properties: ['scope', SERVICE_SCOPES_PROPERTY],
  validator(ctx, key, _value, metadata) {
    if (key !== 'scope') return;
    const m = metadata as Record<string, unknown>;
    checkOperatorOnlyMetadata(ctx, m);
    delete m.scope;
    // RFC 8252 §7.3: a client whose redirect URIs are all http on a loopback address is a native
    // app listening on whatever port it got; oidc-provider lets the port vary only for
    // `native` clients, and MCP clients rarely send application_type. Other URIs stay exact.
    const uris = Array.isArray(m.redirect_uris) ? (m.redirect_uris as unknown[]) : [];
    if (uris.length > 0 && uris.every(isLoopbackHttp)) m.application_type = 'native';
  },
};

const PROVIDER_TTL: Configuration['ttl'] = {
  AccessToken: TTL.accessToken,
  AuthorizationCode: TTL.code,
  IdToken: TTL.accessToken,
  Interaction: TTL.interaction,
  Session: TTL.session,
  Grant: TTL.grant,
  RefreshToken: TTL.refreshToken,
  ClientCredentials: TTL.accessToken,
};

function features(p: ProviderInput): Configuration['features'] {
  const { tenant, resource, resourceScopes } = p;
  return {
    devInteractions: { enabled: false },
    userinfo: { enabled: false },
    introspection: { enabled: false },
    // RFC 7009 §2.1: a client revokes only tokens issued to it. Someone else's token is answered
    // 200 without effect for a public client (the RFC's "invalid token" case), 400 for a confidential one.
    revocation: {
      enabled: true,
      allowedPolicy: (_ctx, client, token) => {
        if (token.clientId === client.clientId) return true;
        if (client.clientAuthMethod === 'none') return false;
        throw new errors.InvalidRequest('client is not authorized to revoke the presented token');
      },
    },
    registration: { enabled: true },
    // Machine clients (machine-clients.ts): operator-registered service clients only.
    clientCredentials: { enabled: true },
    // The logout confirmation and its success page: ours (escaped, strict CSP that also forbids
    // framing), not the library's (a remote font, the request's host in the text).
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: (ctx, form) => {
        const target = ctx.oidc.params?.post_logout_redirect_uri;
        ctx.set('Content-Security-Policy', pageCsp(typeof target === 'string' ? [formTarget(target)] : []));
        ctx.set('Cache-Control', 'no-store');
        ctx.body = page(
          'Sign out',
          `<h1>Sign out of ${esc(tenant.displayName)}?</h1>${form}<div class="actions"><button class="allow" autofocus type="submit" form="op.logoutForm" value="yes" name="logout">Yes, sign me out</button><button type="submit" form="op.logoutForm">No, stay signed in</button></div>`,
        );
      },
      postLogoutSuccessSource: (ctx) => {
        ctx.set('Content-Security-Policy', pageCsp());
        ctx.set('Cache-Control', 'no-store');
        ctx.body = page('Signed out', `<h1>You are signed out of ${esc(tenant.displayName)}</h1>`);
      },
    },
    clientIdMetadataDocument: {
      enabled: true,
      ack: 'draft-02',
      // A document client the tenant blocked (`client block`, as-clients.ts) is neither fetched nor
      // honoured from cache: asked on every authorization and token request of such a client.
      allowFetch: async (_ctx, clientId) => !(await isClientBlocked(p.repo, clientId)),
      allowClient: async (_ctx, client) => !(await isClientBlocked(p.repo, client.clientId)),
    },
    resourceIndicators: {
      enabled: true,
      // RFC 8707 + MCP: the authorization request must name the resource (the tenant's MCP URL);
      // later token requests of the grant may omit it and get the one bound to the grant.
      defaultResource: (ctx) => {
        if (ctx.oidc.route === 'authorization') throw new errors.InvalidTarget("resource is required: this tenant's MCP URL");
        return resource;
      },
      useGrantedResource: () => true,
      getResourceServerInfo: (ctx, indicator) => {
        if (indicator !== resource) throw new errors.InvalidTarget('resource must be this tenant\u2019s MCP URL');
        const machine = ctx.oidc.params?.grant_type === 'client_credentials';
        return resourceServerInfo(resource, machine ? clientCredentialsScope(ctx, resourceScopes) : resourceScopes.join(' '));
      },
    },
  };
}

/** The tenant's MCP resource as a resource server: JWT access tokens (ES256) for exactly it, 10 minutes. */
export function resourceServerInfo(resource: string, scope: string): ResourceServer {
  return { audience: resource, scope, accessTokenFormat: 'jwt', accessTokenTTL: TTL.accessToken, jwt: { sign: { alg: SIGNING_ALG } } };
}

/** A form's CSP target for a redirect URI: its origin, or for a custom scheme (cursor://…, no origin) its scheme. */
function formTarget(uri: string): string {
  try {
    const u = new URL(uri);
    return u.origin !== 'null' ? u.origin : u.protocol;
  } catch {
    return "'none'";
  }
}

type Fetched = { status: number; headers: Headers; body: Uint8Array };

/**
 * oidc-provider's outbound fetch, at most once per URL per request it serves. A Client ID Metadata
 * Document that fails (not found, invalid, a redirect) is not cached by the provider, and its
 * authorization endpoint looks the client up a second time while rendering the error: without this,
 * every such request fetched the document twice. Keyed by the request's context (the provider's
 * AsyncLocalStorage), so nothing is shared between requests; GETs only.
 */
function oncePerRequest(fetch: ProviderFetch): ProviderFetch {
  const seen = new WeakMap<object, Map<string, Promise<Fetched>>>();
  return async (url, init) => {
    const ctx = Provider.ctx as object | undefined;
    if (!ctx || (init?.method ?? 'GET').toUpperCase() !== 'GET') return fetch(url, init);
    let mine = seen.get(ctx);
    if (!mine) seen.set(ctx, (mine = new Map()));
    let pending = mine.get(url);
    if (!pending) {
      pending = fetch(url, init).then(async (res) => ({ status: res.status, headers: res.headers, body: new Uint8Array(await res.arrayBuffer()) }));
      mine.set(url, pending);
    }
    const f = await pending;
    const nullBody = f.status === 204 || f.status === 205 || f.status === 304;
    return new Response(nullBody ? null : f.body.slice(), { status: f.status, headers: f.headers });
  };
}

/** `http://127.0.0.1…` or `http://[::1]…` (RFC 8252 §7.3 loopback; `localhost` is not, §8.3). */
function isLoopbackHttp(uri: unknown): boolean {
  if (typeof uri !== 'string') return false;
  try {
    const u = new URL(uri);
    return u.protocol === 'http:' && (u.hostname === '127.0.0.1' || u.hostname === '[::1]');
  } catch {
    return false;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
