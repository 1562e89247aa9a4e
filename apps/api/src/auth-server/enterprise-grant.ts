import { createHash } from 'node:crypto';
import type { TenantScope } from '@mcprt/calls';
import type { EnterpriseIdp, Tenant } from '@mcprt/db';
import { enterpriseIdpSchema, IdJagRefused, JWT_BEARER_GRANT, verifyIdJag } from '@mcprt/identity';
import type { Logger } from '@mcprt/observability';
import { parseScopes } from '@mcprt/policy';
import type { RedisClient, RedisKeys } from '@mcprt/redis';
import { createLocalJWKSet, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import type Provider from 'oidc-provider';
import { errors, type KoaContextWithOIDC } from 'oidc-provider';
import type { ProviderFetch } from './provider-config.js';
import { resourceServerInfo } from './provider-config.js';

/** What the jwt-bearer grant of one tenant needs. */
export interface EnterpriseGrantDeps {
  tenant: Tenant;
  issuer: string;
  resource: string;
  resourceScopes: readonly string[];
  scope: TenantScope;
  redis: RedisClient;
  keys: RedisKeys;
  jwks: EnterpriseJwks;
  log: Logger;
}

/**
 * The enterprise IdPs' keys, fetched through the egress (timeouts, size limit, address rules) and
 * kept 5 minutes; a token naming a kid they lack fetches them again, at most once per 30 s per URI.
 */
export class EnterpriseJwks {
  readonly #sets = new LRUCache<string, Promise<JWTVerifyGetKey>>({ max: 1_000, ttl: 300_000 });
  readonly #refetched = new LRUCache<string, number>({ max: 1_000 });
  constructor(private readonly fetch: ProviderFetch) {}

  keysOf(idp: EnterpriseIdp): JWTVerifyGetKey {
    return async (header, token) => {
      try {
        return await (
          await this.#set(idp.jwksUri)
        )(header, token);
      } catch (e) {
        if (!(e instanceof joseErrors.JWKSNoMatchingKey) || Date.now() - (this.#refetched.get(idp.jwksUri) ?? 0) < 30_000) throw e;
        this.#refetched.set(idp.jwksUri, Date.now());
        this.#sets.delete(idp.jwksUri);
        return (await this.#set(idp.jwksUri))(header, token);
      }
    };
  }

  #set(uri: string): Promise<JWTVerifyGetKey> {
    let pending = this.#sets.get(uri);
    if (!pending) {
      pending = this.fetch(uri, { headers: { accept: 'application/json' } }).then(async (res) => {
        if (res.status !== 200) throw new IdJagRefused(`the issuer's JWKS answered ${res.status}`);
        return createLocalJWKSet((await res.json()) as Parameters<typeof createLocalJWKSet>[0]);
      });
      pending.catch(() => this.#sets.delete(uri));
      this.#sets.set(uri, pending);
    }
    return pending;
  }
}

/**
 * The RFC 7523 `jwt-bearer` grant carrying an ID-JAG: the client authenticated (oidc-provider did
 * that, and checked the client may use this grant), the ID-JAG checked (`verifyIdJag`), redeemed once
 * (Redis SET NX until its `exp`: of N parallel redemptions exactly one gets a token), its subject
 * mapped to the tenant's user by (IdP issuer, subject) — created on first sight, as an external-mode
 * tenant does for a verified token of its IdP — and an access token issued for the tenant's MCP URL
 * with the requested scopes within the ID-JAG's and the tenant's. Every outcome is audited.
 */
export function registerEnterpriseGrant(provider: Provider, d: EnterpriseGrantDeps): void {
  provider.registerGrantType(JWT_BEARER_GRANT, (ctx) => redeem(ctx, d), ['assertion', 'scope', 'resource']);
}

async function redeem(ctx: KoaContextWithOIDC, d: EnterpriseGrantDeps): Promise<void> {
  const client = ctx.oidc.client!;
  const audit = (decision: 'allow' | 'deny', reason: string | null, userId: string | null = null) =>
    d.scope.audit.append({ userId, clientId: client.clientId, action: 'token.enterprise_grant', decision, reason });
  try {
    const params = ctx.oidc.params as Record<string, unknown>;
    if (typeof params.resource === 'string' && params.resource !== d.resource) throw new errors.InvalidTarget("resource must be this tenant's MCP URL");
    const trusted = d.tenant.enterpriseIdps.filter((t) => enterpriseIdpSchema.safeParse(t).success);
    const jag = await verifyIdJag(String(params.assertion ?? ''), { trusted, audience: d.issuer, resource: d.resource, clientId: client.clientId }, (idp) =>
      Promise.resolve(d.jwks.keysOf(idp)),
    );
    const requested = typeof params.scope === 'string' ? parseScopes(params.scope) : (jag.scopes ?? []);
    const granted = requested.filter((s) => d.resourceScopes.includes(s) && (jag.scopes === undefined || jag.scopes.includes(s)));
    if (granted.length === 0) throw new errors.InvalidScope('none of the requested scopes is allowed by the assertion and this tenant', requested.join(' '));
    const digest = createHash('sha256').update(`${jag.idp.issuer}\u0000${jag.jti}`).digest('base64url');
    const ttlMs = Math.max(1_000, jag.expiresAt * 1000 - Date.now() + 10_000);
    if ((await d.redis.set(d.keys.idJagRedeemed(d.tenant.id, digest), '1', 'PX', ttlMs, 'NX')) !== 'OK')
      throw new IdJagRefused('assertion was already redeemed');
    const user = await d.scope.users.upsert({ issuer: jag.idp.issuer, subject: jag.subject, email: jag.email ?? null });
    const token = new (op(ctx).AccessToken)({
      accountId: user.id,
      client,
      scope: granted.join(' '),
      gty: 'jwt_bearer',
      grantId: undefined as unknown as string,
    });
    token.resourceServer = new (op(ctx).ResourceServer)(d.resource, resourceServerInfo(d.resource, granted.join(' ')));
    ctx.oidc.entity('AccessToken', token);
    const value = await token.save();
    await audit('allow', `issuer ${jag.idp.issuer}`, user.id);
    ctx.body = {
      access_token: value,
      token_type: token.tokenType,
      expires_in: token.expiration,
      scope: token.scope,
      issued_token_type: 'urn:ietf:params:oauth:token-type:access_token',
    };
  } catch (e) {
    const refused = e instanceof IdJagRefused ? new errors.InvalidGrant(e.message) : e;
    if (refused instanceof errors.OIDCProviderError) {
      await audit('deny', `${refused.error}: ${refused.error_description ?? ''}`.slice(0, 300)).catch((err: unknown) =>
        d.log.warn({ err }, 'audit of a refused grant failed'),
      );
    }
    throw refused;
  }
}

const op = (ctx: KoaContextWithOIDC) => ctx.oidc.provider;
