import { hkdfSync } from 'node:crypto';
import { loadSigningKeys, SIGNING_ALG } from '@mcprt/identity';
import type { Keyring } from '@mcprt/keyring';
import { oidcStoreRepository, type Executor, type Tenant } from '@mcprt/db';
import { forTenant } from '@mcprt/calls';
import type { Logger } from '@mcprt/observability';
import { HISTORY_SCOPES } from '@mcprt/policy';
import type { ToolRegistry } from '@mcprt/tools';
import { createLocalJWKSet, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import Provider, { errors, type Configuration } from 'oidc-provider';
import { mcpResourceUrl } from '../http/urls.js';
import { postgresAdapter, REGISTRATION_TTL_SECONDS, storeKey } from './adapter.js';
import { esc, page, pageCsp } from './pages.js';

/** Lifetimes (seconds). Access tokens are JWTs, not stored, so not revocable: keep them short. */
export const TTL = { accessToken: 600, code: 60, interaction: 600, session: 86_400, grant: 14 * 86_400, refreshToken: 14 * 86_400 };

export const asIssuer = (publicUrl: string, slug: string) => `${publicUrl}/t/${slug}`;

export interface AuthServerDeps {
  publicUrl: string;
  db: Executor;
  keyring: Keyring;
  registry: ToolRegistry;
  log: Logger;
  /** oidc-provider's outbound fetch (Client ID Metadata Documents): the egress helper's. */
  fetch: (
    url: string,
    init?: { method?: string; headers?: ConstructorParameters<typeof Headers>[0]; body?: unknown; signal?: AbortSignal | null },
  ) => Promise<Response>;
}

export interface TenantAuthServer {
  tenantId: string;
  provider: Provider;
  /** Node handler of the provider (mounted under `/t/{slug}`). */
  callback: ReturnType<Provider['callback']>;
  /** The tenant's public keys, for verifying its access tokens in-process. */
  jwks: JWTVerifyGetKey;
}

/**
 * Cookie keys shared by every tenant's provider (and the app's own signed cookies): derived (HKDF)
 * from each keyring key, active key first, so a rotation keeps accepting cookies signed before it.
 */
export function cookieKeys(keyring: Keyring): string[] {
  const kids = [keyring.activeKid, ...keyring.kids.filter((k) => k !== keyring.activeKid)];
  return kids.map((kid) => Buffer.from(hkdfSync('sha256', keyring.keyFor(kid)!.export(), Buffer.alloc(0), 'mcprt.as-cookies.v1', 32)).toString('base64url'));
}

/**
 * One oidc-provider per built-in tenant, created on first use (keys read or created, then cached for
 * the process). Issuer `{PUBLIC_URL}/t/{slug}`: clients, grants, sessions and keys never cross
 * tenants (tenant-scoped adapter, per-tenant keys, per-tenant cookie names and paths).
 */
export class AuthServers {
  // Rebuilt after `ttl` so every replica starts signing with a rotated key within a minute (one read of
  // the key table per tenant per minute, never on the request path of a cached server).
  readonly #servers = new LRUCache<string, Promise<TenantAuthServer>>({ max: 1_000, ttl: 60_000 });
  /** When each tenant's keys were last reloaded because a token named an unknown kid. */
  readonly #reloads = new LRUCache<string, number>({ max: 10_000 });
  readonly #deps: AuthServerDeps;
  readonly #cookieKeys: string[];

  constructor(deps: AuthServerDeps) {
    this.#deps = deps;
    this.#cookieKeys = cookieKeys(deps.keyring);
  }

  get cookieKeys(): string[] {
    return this.#cookieKeys;
  }

  /** The tenant's server; the tenant row decides the scopes, so a changed tool list needs a new one (`forget`). */
  async get(tenant: Tenant): Promise<TenantAuthServer> {
    const key = `${tenant.id}\u0000${tenant.enabledTools.join(',')}`;
    let pending = this.#servers.get(key);
    if (!pending) {
      pending = this.#build(tenant);
      pending.catch(() => this.#servers.delete(key));
      this.#servers.set(key, pending);
    }
    return pending;
  }

  /** Drops a tenant's server (next use reads its keys and builds it again). */
  forget(tenantId: string): void {
    for (const key of [...this.#servers.keys()]) if (key.startsWith(`${tenantId}\u0000`)) this.#servers.delete(key);
  }

  /**
   * The key resolver bearer-auth verifies a built-in tenant's tokens with: the cached keys; a token
   * naming a kid they lack (a rotation made by another process) reloads them, at most once per
   * cooldown per tenant, so forged kids cannot turn into a query per request.
   */
  verifier(tenant: Tenant): JWTVerifyGetKey {
    return async (header, token) => {
      const server = await this.get(tenant);
      try {
        return await server.jwks(header, token);
      } catch (e) {
        if (!(e instanceof joseErrors.JWKSNoMatchingKey)) throw e;
        const last = this.#reloads.get(tenant.id) ?? 0;
        if (Date.now() - last < KEY_RELOAD_COOLDOWN_MS) throw e;
        this.#reloads.set(tenant.id, Date.now());
        this.forget(tenant.id);
        return (await this.get(tenant)).jwks(header, token);
      }
    };
  }

  async #build(tenant: Tenant): Promise<TenantAuthServer> {
    const d = this.#deps;
    const repo = oidcStoreRepository(d.db, tenant.id);
    const scope = forTenant(d.db, tenant.id);
    const keys = await loadSigningKeys(tenant.id, repo, d.keyring);
    const base = `/t/${tenant.slug}`;
    const resource = mcpResourceUrl(d.publicUrl, tenant.slug);
    const toolScopes = d.registry.enabledFor(tenant.enabledTools).map((t) => t.mcpScope);
    // The user's history (packages/policy HISTORY_SCOPES): granted only when an app asks for it by
    // name and the user allows it on the consent page; never advertised in the resource metadata.
    const resourceScopes = [...toolScopes, ...HISTORY_SCOPES.map((h) => h.scope)];
    const cookie = { path: base, httpOnly: true, sameSite: 'lax' as const };
    const configuration: Configuration = {
      adapter: postgresAdapter(tenant.id, repo, d.keyring),
      jwks: { keys: keys.privateJwks as NonNullable<Configuration['jwks']>['keys'] },
      cookies: {
        keys: this.#cookieKeys,
        names: { session: `mcprt_as_${tenant.slug}`, interaction: `mcprt_as_i_${tenant.slug}`, resume: `mcprt_as_r_${tenant.slug}` },
        long: cookie,
        short: cookie,
      },
      interactions: { url: (_ctx, interaction) => `${base}/interaction/${interaction.uid}` },
      // The account id is our user id (a UUID): the user row was created at login from the IdP's (issuer, subject).
      findAccount: async (_ctx, id) => {
        if (!UUID.test(id)) return undefined;
        const user = await scope.users.byId(id);
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
      // A client's registered `scope` would become a per-client allow-list (later step-up → invalid_scope):
      // what a client gets is decided by the user's consent and the tenant's tools, not its registration.
      extraClientMetadata: {
        properties: ['scope'],
        validator(_ctx, key, _value, metadata) {
          if (key !== 'scope') return;
          const m = metadata as Record<string, unknown>;
          delete m.scope;
          // RFC 8252 §7.3: a client whose redirect URIs are all http on a loopback address is a native
          // app listening on whatever port it got; oidc-provider lets the port vary only for
          // `native` clients, and MCP clients rarely send application_type. Other URIs stay exact.
          const uris = Array.isArray(m.redirect_uris) ? (m.redirect_uris as unknown[]) : [];
          if (uris.length > 0 && uris.every(isLoopbackHttp)) m.application_type = 'native';
        },
      },
      features: {
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
        clientIdMetadataDocument: { enabled: true, ack: 'draft-02' },
        resourceIndicators: {
          enabled: true,
          // RFC 8707 + MCP: the authorization request must name the resource (the tenant's MCP URL);
          // later token requests of the grant may omit it and get the one bound to the grant.
          defaultResource: (ctx) => {
            if (ctx.oidc.route === 'authorization') throw new errors.InvalidTarget("resource is required: this tenant's MCP URL");
            return resource;
          },
          useGrantedResource: () => true,
          getResourceServerInfo: (_ctx, indicator) => {
            if (indicator !== resource) throw new errors.InvalidTarget('resource must be this tenant\u2019s MCP URL');
            return {
              audience: resource,
              scope: resourceScopes.join(' '),
              accessTokenFormat: 'jwt',
              accessTokenTTL: TTL.accessToken,
              jwt: { sign: { alg: SIGNING_ALG } },
            };
          },
        },
      },
      // Refresh tokens for every client allowed the grant (not only with offline_access), rotated on use;
      // oidc-provider revokes the grant when a rotated one is presented again.
      issueRefreshToken: (_ctx, client) => client.grantTypeAllowed('refresh_token'),
      rotateRefreshToken: true,
      ttl: {
        AccessToken: TTL.accessToken,
        AuthorizationCode: TTL.code,
        IdToken: TTL.accessToken,
        Interaction: TTL.interaction,
        Session: TTL.session,
        Grant: TTL.grant,
        RefreshToken: TTL.refreshToken,
        ClientCredentials: TTL.accessToken,
      },
      fetch: oncePerRequest(d.fetch) as unknown as Configuration['fetch'],
      // Our page instead of the library's: escaped, strict CSP, no stack or internals.
      renderError: (ctx, out) => {
        ctx.type = 'html';
        ctx.set('Content-Security-Policy', pageCsp());
        ctx.set('Cache-Control', 'no-store');
        ctx.body = page(
          'Sign-in error',
          `<h1>This sign-in cannot continue</h1><p><code>${esc(String(out.error))}</code>: ${esc(String(out.error_description ?? ''))}</p><p>Go back to your app and start again.</p>`,
        );
      },
    };
    const provider = new Provider(asIssuer(d.publicUrl, tenant.slug), configuration);
    // Every request reaches the provider through `toProvider` (mount.ts), which rewrites its Host,
    // X-Forwarded-Host/-Proto/-For to PUBLIC_URL's host and protocol and the address the app decided:
    // the provider reads only those, so every URL it publishes or redirects to is PUBLIC_URL's.
    provider.proxy = true;
    const log = d.log.child({ tenant: tenant.slug, component: 'authorization-server' });
    provider.on('server_error', (_ctx, err) => log.error({ err }, 'authorization server error'));
    // A registration in use lives on; one unused for REGISTRATION_TTL_SECONDS expires (and is swept).
    provider.on('grant.success', (ctx) => {
      const clientId = ctx.oidc.client?.clientId;
      if (!clientId) return;
      repo
        .touch('Client', storeKey(clientId), new Date(Date.now() + REGISTRATION_TTL_SECONDS * 1000))
        .catch((err: unknown) => log.warn({ err }, 'registration expiry not extended'));
    });
    return { tenantId: tenant.id, provider, callback: provider.callback(), jwks: createLocalJWKSet({ keys: keys.publicJwks }) };
  }
}

const KEY_RELOAD_COOLDOWN_MS = 30_000;

/** A form's CSP target for a redirect URI: its origin, or for a custom scheme (cursor://…, no origin) its scheme. */
function formTarget(uri: string): string {
  try {
    const u = new URL(uri);
    return u.origin !== 'null' ? u.origin : u.protocol;
  } catch {
    return "'none'";
  }
}

type ProviderFetch = AuthServerDeps['fetch'];
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
