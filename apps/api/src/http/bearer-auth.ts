import { idpUnavailable, retryAfterSeconds, verifyAccessToken, type IssuerDirectory, type VerifiedToken, type VerifiedTokenCache } from '@mcprt/identity';
import { appError, isAppError, type AppError, type ErrorCode } from '@mcprt/errors';
import type { Middleware } from 'koa';
import type { AuthServers } from '../auth-server/provider.js';
import { asIssuer } from '../auth-server/provider.js';
import { principalKind, SERVICE_PRINCIPAL_ISSUER, serviceClientOf } from '@mcprt/policy';
import type { TenantScope } from '@mcprt/calls';
import type { User } from '@mcprt/db';
import type { UserCache } from './user-cache.js';
import { bindLog, required, type ApiState } from './state.js';
import { mcpResourceUrl, resourceMetadataUrl } from './urls.js';

/** RFC 6750 §3 challenge. No `scope=` here on purpose: clients would copy it as their whole request, losing what they had. */
function bearerChallenge(publicUrl: string, slug: string, error?: { code: string; description: string }): string {
  const parts = [`resource_metadata="${resourceMetadataUrl(publicUrl, slug)}"`];
  if (error) parts.unshift(`error="${error.code}"`, `error_description="${error.description.replace(/["\\]/g, '')}"`);
  return `Bearer ${parts.join(', ')}`;
}

/**
 * RFC 6750 §3.1 `insufficient_scope` (HTTP 403) for a verified token that lacks `needed`: the
 * challenge names the union of the token's scopes and the needed ones, so a client re-authorizing
 * with it keeps what it had (the MCP endpoint's step-up, the history routes).
 */
export function insufficientScope(publicUrl: string, slug: string, tokenScopes: readonly string[], needed: readonly string[]): AppError {
  const scope = [...new Set([...tokenScopes, ...needed])].join(' ');
  const description = `this request needs the scope${needed.length > 1 ? 's' : ''} ${needed.join(' ')}`;
  return appError('insufficient_scope', description, {
    details: {
      wwwAuthenticate: `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${resourceMetadataUrl(publicUrl, slug)}", error_description="${description}"`,
    },
  });
}

export interface BearerDeps {
  publicUrl: string;
  directory: IssuerDirectory;
  users: UserCache;
  verified: VerifiedTokenCache;
  /** Built-in tenants' authorization servers: their keys verify in-process. */
  authServers: Pick<AuthServers, 'verifier'>;
}

/**
 * Resource-server check: a JWT from the tenant's issuer whose audience is exactly this tenant's MCP
 * resource URL (a token for another resource is refused). Sets the verified token and the (created
 * on first sight) user.
 */
export function bearerAuth(deps: BearerDeps): Middleware<ApiState> {
  return async (ctx, next) => {
    const tenant = required(ctx, 'tenant');
    const header = ctx.get('authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    const refuse = (code: ErrorCode | undefined, description: string): AppError =>
      appError(code ?? 'missing_token', description, {
        status: 401,
        details: { wwwAuthenticate: bearerChallenge(deps.publicUrl, tenant.slug, code ? { code, description } : undefined) },
      });
    if (!match) throw refuse(header ? 'invalid_request' : undefined, header ? 'Authorization header is not a Bearer token' : 'authorization required');
    const builtin = tenant.authMode === 'builtin';
    const expected = {
      issuer: builtin ? asIssuer(deps.publicUrl, tenant.slug) : tenant.idpIssuer,
      audience: mcpResourceUrl(deps.publicUrl, tenant.slug),
      requireAtJwt: builtin,
    };
    const cacheKey = deps.verified.key(expected.issuer, expected.audience, match[1]!);
    let token = deps.verified.get(cacheKey);
    if (!token) {
      try {
        // Built-in: the tenant's own keys, loaded once per process with its server (no request to anyone).
        const keys = builtin ? { jwks: async () => deps.authServers.verifier(tenant) } : deps.directory;
        token = await verifyAccessToken(keys, match[1]!, expected);
      } catch (e) {
        if (isAppError(e) && e.kind === 'auth') throw refuse('invalid_token', e.message);
        // The tenant's IdP is down: a retryable 503, without an error-level stack per request (the
        // directory logs the outage once and holds the failure for a few seconds).
        const down = idpUnavailable(e);
        if (!down) throw e;
        throw appError('idp_unavailable', down.message, { cause: e, details: { retryAfterSeconds: retryAfterSeconds(down) } });
      }
      deps.verified.set(cacheKey, token);
    }
    ctx.state.token = token;
    const user = builtin
      ? await builtinPrincipal(deps.users, required(ctx, 'scope'), token)
      : await deps.users.resolve(required(ctx, 'scope'), { issuer: token.issuer, subject: token.subject, email: token.email, name: token.name });
    if (!user) throw refuse('invalid_token', 'token subject is not a user of this tenant');
    ctx.state.user = user;
    bindLog(ctx.state, { userId: user.id, clientId: token.clientId });
    // The MCP token goes no further: handlers get the verified identity from ctx.state, and the SDK
    // sees neither the Authorization header nor an `authInfo` carrying the token.
    await next();
  };
}

/**
 * Who a built-in tenant's token acts for: `sub` = our user id (sign-in, enterprise-managed grant), or
 * `svc:<client_id>` for a machine client (`@mcprt/policy` principal.ts), which must be the client the
 * token was issued to; its principal row (reserved issuer, subject = client id) is created on first use.
 */
async function builtinPrincipal(users: UserCache, scope: TenantScope, token: VerifiedToken): Promise<User | undefined> {
  const service = serviceClientOf(token.subject);
  if (service === undefined) {
    // A service principal's row is reached only through `svc:<client_id>`, never by its row id.
    const user = await users.byId(scope, token.subject);
    return user && principalKind(user) === 'person' ? user : undefined;
  }
  if (token.clientId !== service) return undefined;
  return users.resolve(scope, { issuer: SERVICE_PRINCIPAL_ISSUER, subject: service, name: `service client ${service}` });
}
