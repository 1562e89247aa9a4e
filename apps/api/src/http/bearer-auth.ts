import { idpUnavailable, retryAfterSeconds, verifyAccessToken, type IssuerDirectory, type VerifiedTokenCache } from '@mcprt/identity';
import { AppError, isAppError } from '@mcprt/errors';
import type { Middleware } from 'koa';
import type { AuthServers } from '../auth-server/provider.js';
import { asIssuer } from '../auth-server/provider.js';
import type { UserCache } from './user-cache.js';
import { bindLog, required, type ApiState } from './state.js';
import { mcpResourceUrl, resourceMetadataUrl } from './urls.js';

/** RFC 6750 §3 challenge. No `scope=` here on purpose (DESIGN §3.1): clients would copy it as their whole request. */
export function bearerChallenge(publicUrl: string, slug: string, error?: { code: string; description: string }): string {
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
  return new AppError('policy', 'insufficient_scope', description, {
    status: 403,
    details: {
      wwwAuthenticate: `Bearer error="insufficient_scope", scope="${scope}", resource_metadata="${resourceMetadataUrl(publicUrl, slug)}", error_description="${description}"`,
    },
  });
}

/**
 * Resource-server check (DESIGN §3.1): a JWT from the tenant's issuer whose audience is exactly this
 * tenant's MCP resource URL. Sets the verified token and the (created on first sight) user.
 */
export function bearerAuth(deps: {
  publicUrl: string;
  directory: IssuerDirectory;
  users: UserCache;
  verified: VerifiedTokenCache;
  /** Built-in tenants' authorization servers (issue 8): their keys verify in-process. */
  authServers: AuthServers;
}): Middleware<ApiState> {
  return async (ctx, next) => {
    const tenant = required(ctx, 'tenant');
    const header = ctx.get('authorization');
    const match = /^Bearer ([A-Za-z0-9._~+/-]+=*)$/i.exec(header);
    const refuse = (code: string | undefined, description: string) =>
      new AppError('auth', code ?? 'missing_token', description, {
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
        // The tenant's IdP is down: a retryable 503 answered here, without an error-level stack per
        // request (the directory logs the outage once and holds the failure for a few seconds).
        const down = idpUnavailable(e);
        if (!down) throw e;
        ctx.status = 503;
        ctx.set('Retry-After', String(retryAfterSeconds(down)));
        ctx.body = { error: down.code, error_description: down.message, request_id: ctx.state.requestId };
        ctx.state.log.debug({ code: down.code, status: 503 }, 'request refused');
        return;
      }
      deps.verified.set(cacheKey, token);
    }
    ctx.state.token = token;
    const user = builtin
      ? await deps.users.byId(required(ctx, 'scope'), token.subject)
      : await deps.users.resolve(required(ctx, 'scope'), { issuer: token.issuer, subject: token.subject, email: token.email, name: token.name });
    if (!user) throw refuse('invalid_token', 'token subject is not a user of this tenant');
    ctx.state.user = user;
    bindLog(ctx.state, { userId: user.id, clientId: token.clientId });
    // The MCP token goes no further: handlers get the verified identity from ctx.state, and the SDK
    // sees neither the Authorization header nor an `authInfo` carrying the token.
    await next();
  };
}
