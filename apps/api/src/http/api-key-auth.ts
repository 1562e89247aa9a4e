import { apiKeySecretMatches, parseApiKey } from '@mcprt/identity';
import type { ApiKeyScope } from '@mcprt/policy';
import { apiKeysRepository, recordApiKeyUse, type DbHandle } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import type { Middleware } from 'koa';
import { bindLog, required, type ApiState } from './state.js';

/**
 * The back office's authentication: `Authorization: Bearer mcprt_ak_<id>_<secret>`,
 * a key of *this* tenant (looked up by tenant and id, so tenant A's key is unknown at tenant B), not
 * revoked, whose secret hashes to the stored hash, holding `scope`. Every use is audited in the
 * tenant (`api_key.<route>`, allow or deny) in the same statement that refreshes `last_used_at`.
 * Unknown or malformed keys are refused without writing anything (an anonymous flood grows no table).
 */
export function apiKeyAuth(db: DbHandle, scope: ApiKeyScope, route: string): Middleware<ApiState> {
  const challenge = (code: string, description: string) => `Bearer realm="mcprt-admin", error="${code}", error_description="${description}"`;
  const refuse = (description: string) =>
    new AppError('auth', 'invalid_token', description, { details: { wwwAuthenticate: challenge('invalid_token', description) } });
  return async (ctx, next) => {
    const tenant = required(ctx, 'tenant');
    const match = /^Bearer (\S+)$/i.exec(ctx.get('authorization'));
    if (!match)
      throw new AppError('auth', 'missing_token', 'an API key is required (Authorization: Bearer mcprt_ak_…)', {
        details: { wwwAuthenticate: 'Bearer realm="mcprt-admin"' },
      });
    const parsed = parseApiKey(match[1]!);
    if (!parsed) throw refuse('not a tenant API key');
    const key = await apiKeysRepository(db.db, tenant.id).byId(parsed.id);
    // The same answer for unknown, foreign-tenant and wrong-secret keys: no oracle for key ids.
    if (!key || !apiKeySecretMatches(parsed.secret, key.secretHash)) throw refuse('unknown API key');
    const use = { tenantId: tenant.id, keyId: key.id, route, requestId: ctx.state.requestId };
    if (key.revokedAt) {
      await recordApiKeyUse(db.sql, { ...use, decision: 'deny', reason: 'api_key_revoked' });
      throw refuse('this API key has been revoked');
    }
    if (!key.scopes.includes(scope)) {
      await recordApiKeyUse(db.sql, { ...use, decision: 'deny', reason: 'insufficient_scope' });
      throw new AppError('policy', 'insufficient_scope', `this API key lacks the scope ${scope}`, {
        details: { wwwAuthenticate: `Bearer realm="mcprt-admin", error="insufficient_scope", scope="${scope}"` },
      });
    }
    await recordApiKeyUse(db.sql, { ...use, decision: 'allow' });
    ctx.state.apiKey = { id: key.id, scopes: key.scopes };
    bindLog(ctx.state, { apiKey: key.id });
    await next();
  };
}
