import { hkdfSync } from 'node:crypto';
import { loadSigningKeys } from '@mcprt/identity';
import type { Keyring } from '@mcprt/keyring';
import { oidcStoreRepository, type Executor, type Tenant } from '@mcprt/db';
import { forTenant } from '@mcprt/calls';
import type { Logger } from '@mcprt/observability';
import { HISTORY_SCOPES } from '@mcprt/policy';
import type { ToolRegistry } from '@mcprt/tools';
import { createLocalJWKSet, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import Provider from 'oidc-provider';
import { mcpResourceUrl } from '../http/urls.js';
import { REGISTRATION_TTL_SECONDS, storeKey } from './adapter.js';
import { EnterpriseJwks, registerEnterpriseGrant } from './enterprise-grant.js';
import { auditRefusedClientCredentials } from './machine-clients.js';
import type { RedisClient, RedisKeys } from '@mcprt/redis';
import { providerConfiguration, type ProviderFetch } from './provider-config.js';

export const asIssuer = (publicUrl: string, slug: string) => `${publicUrl}/t/${slug}`;

export interface AuthServerDeps {
  publicUrl: string;
  db: Executor;
  keyring: Keyring;
  registry: ToolRegistry;
  log: Logger;
  /** oidc-provider's outbound fetch (Client ID Metadata Documents): the egress helper's. */
  fetch: ProviderFetch;
  /** Enterprise IdPs' JWKS (ID-JAG signatures): the egress helper's, with the IdP rules. */
  idpFetch: ProviderFetch;
  /** ID-JAG replay (one redemption each). */
  redis: RedisClient;
  keys: RedisKeys;
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
function cookieKeys(keyring: Keyring): string[] {
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
  readonly #enterpriseJwks: EnterpriseJwks;

  constructor(deps: AuthServerDeps) {
    this.#deps = deps;
    this.#enterpriseJwks = new EnterpriseJwks(deps.idpFetch);
    this.#cookieKeys = cookieKeys(deps.keyring);
  }

  get cookieKeys(): string[] {
    return this.#cookieKeys;
  }

  /** The tenant's server; the tenant row decides the scopes, so a changed tool list needs a new one (`forget`). */
  async get(tenant: Tenant): Promise<TenantAuthServer> {
    const key = `${tenant.id}\u0000${tenant.enabledTools.join(',')}\u0000${JSON.stringify(tenant.enterpriseIdps)}`;
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
    const keys = await loadSigningKeys(tenant.id, repo, d.keyring);
    const toolScopes = d.registry.enabledFor(tenant.enabledTools).map((t) => t.mcpScope);
    // The user's history (packages/policy HISTORY_SCOPES): granted only when an app asks for it by
    // name and the user allows it on the consent page; never advertised in the resource metadata.
    const resourceScopes = [...toolScopes, ...HISTORY_SCOPES.map((h) => h.scope)];
    const resource = mcpResourceUrl(d.publicUrl, tenant.slug);
    const scope = forTenant(d.db, tenant.id);
    const configuration = providerConfiguration({
      tenant,
      resource,
      resourceScopes,
      privateJwks: keys.privateJwks,
      cookieKeys: this.#cookieKeys,
      keyring: d.keyring,
      repo,
      scope,
      fetch: d.fetch,
    });
    const issuer = asIssuer(d.publicUrl, tenant.slug);
    const provider = new Provider(issuer, configuration);
    // Every request reaches the provider through `toProvider` (passthrough.ts), which rewrites its Host,
    // X-Forwarded-Host/-Proto/-For to PUBLIC_URL's host and protocol and the address the app decided:
    // the provider reads only those, so every URL it publishes or redirects to is PUBLIC_URL's.
    provider.proxy = true;
    provider.use(defaultScope(provider, issuer, toolScopes));
    const log = d.log.child({ tenant: tenant.slug, component: 'authorization-server' });
    auditRefusedClientCredentials(provider, (e) => scope.audit.append(e), log);
    registerEnterpriseGrant(provider, { tenant, issuer, resource, resourceScopes, scope, redis: d.redis, keys: d.keys, jwks: this.#enterpriseJwks, log });
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

/**
 * RFC 6749 §3.3: a request that omits `scope` is processed with a pre-defined default. An
 * authorization request (GET) naming no scope is sent (303) to the same request naming the tenant's
 * tool scopes, as its protected resource metadata advertises them (never the history scopes); the
 * consent page shows them and the user decides. Without it the grant holds nothing and the provider
 * answers `access_denied`. A redirect, not a rewrite: the provider sees an ordinary request. Only
 * for a registered client and one of its own redirect URIs: any other request goes on to the
 * provider unchanged and is refused there, so this never bounces a request it would refuse.
 */
function defaultScope(provider: Provider, issuer: string, toolScopes: readonly string[]): Parameters<Provider['use']>[0] {
  const registered = async (clientId: unknown, redirectUri: unknown): Promise<boolean> => {
    if (typeof clientId !== 'string' || typeof redirectUri !== 'string') return false;
    const client = await provider.Client.find(clientId).catch(() => undefined);
    return client?.redirectUriAllowed(redirectUri) === true;
  };
  return async (ctx, next) => {
    if (
      ctx.method === 'GET' &&
      ctx.path === '/auth' &&
      ctx.query.scope === undefined &&
      toolScopes.length > 0 &&
      (await registered(ctx.query.client_id, ctx.query.redirect_uri))
    ) {
      const params = new URLSearchParams(ctx.querystring);
      params.set('scope', toolScopes.join(' '));
      ctx.status = 303;
      ctx.redirect(`${issuer}/auth?${params.toString()}`);
      return;
    }
    await next();
  };
}
