import { createHash, randomBytes } from 'node:crypto';
import { apiKeysRepository, type Executor, type TenantApiKey } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import { ADMIN } from '@mcprt/policy';
import type { RedisKeys } from '@mcprt/redis';
import type { Redis } from 'ioredis';
import type { Middleware, ParameterizedContext } from 'koa';
import { z } from 'zod';
import { safeEqual, type BrowserCookies } from '../auth-server/browser-session.js';
import { bindLog, required, type ApiState } from '../http/state.js';

type Ctx = ParameterizedContext<ApiState>;

/** How long a console session lives after sign-in (absolute: no sliding renewal). */
export const OPERATOR_SESSION_MS = 30 * 60_000;

/** The console's cookie: one per tenant, sent only under that tenant's console path. */
export const operatorCookie = (slug: string) => `mcprt_op_${slug}`;
export const consolePath = (slug: string) => `/t/${slug}/admin`;

const stored = z.object({ tenantId: z.uuid(), keyId: z.string(), csrf: z.string(), at: z.number() });
type Stored = z.infer<typeof stored>;

/**
 * Admin-console sessions, server-side in Redis: the browser holds only a random 256-bit id (in a
 * signed, httpOnly, SameSite=Strict cookie); Redis holds, under the id's SHA-256 (a copy of Redis
 * gives no usable cookie), the tenant, the API key that signed in and the session's CSRF token, and
 * drops it after OPERATOR_SESSION_MS. Sign-out deletes it.
 */
export class OperatorSessions {
  constructor(
    private readonly redis: Pick<Redis, 'set' | 'get' | 'del'>,
    private readonly keys: Pick<RedisKeys, 'operatorSession'>,
  ) {}

  #key(id: string): string {
    return this.keys.operatorSession(createHash('sha256').update(id).digest('base64url'));
  }

  async create(tenantId: string, keyId: string): Promise<{ id: string; csrf: string }> {
    const id = randomBytes(32).toString('base64url');
    const csrf = randomBytes(32).toString('base64url');
    const value: Stored = { tenantId, keyId, csrf, at: Date.now() };
    await this.redis.set(this.#key(id), JSON.stringify(value), 'PX', OPERATOR_SESSION_MS);
    return { id, csrf };
  }

  async get(id: string): Promise<Stored | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const raw = await this.redis.get(this.#key(id));
    const parsed = raw ? stored.safeParse(JSON.parse(raw)) : undefined;
    return parsed?.success ? parsed.data : undefined;
  }

  async destroy(id: string): Promise<void> {
    await this.redis.del(this.#key(id));
  }
}

export interface OperatorAuthDeps {
  sessions: OperatorSessions;
  db: Executor;
  cookies: BrowserCookies;
}

/** A key that may open the console: this tenant's, not revoked, holding the `admin` scope. */
export const opensConsole = (key: TenantApiKey | undefined): boolean => !!key && !key.revokedAt && key.scopes.includes(ADMIN);

/**
 * The `operator` chain's check: a live console session of *this* tenant whose API key is still
 * active with the `admin` scope (read on every request, so revoking the key, from the console or the
 * CLI, ends its sessions at once). Anything else: a page load goes to the sign-in form, anything
 * else is refused (`operator_sign_in_required`). A POST must also carry the session's CSRF token
 * (`requireCsrf`).
 */
export function operatorAuth(d: OperatorAuthDeps): Middleware<ApiState> {
  return async (ctx, next) => {
    const tenant = required(ctx, 'tenant');
    const id = d.cookies.signedValue(ctx, operatorCookie(tenant.slug));
    const session = id ? await d.sessions.get(id) : undefined;
    const key = session && session.tenantId === tenant.id ? await apiKeysRepository(d.db, tenant.id).byId(session.keyId) : undefined;
    if (!session || !key || !opensConsole(key)) {
      if (id && session) await d.sessions.destroy(id);
      if (ctx.method === 'GET') {
        ctx.status = 303;
        ctx.redirect(`${consolePath(tenant.slug)}/login`);
        return;
      }
      throw appError('operator_sign_in_required');
    }
    ctx.state.operator = { keyId: key.id, csrf: session.csrf, scopes: key.scopes };
    bindLog(ctx.state, { operatorKey: key.id });
    await next();
  };
}

/** Refuses a form whose CSRF token is not the session's (compared in constant time). */
export function requireCsrf(ctx: Ctx, given: unknown): void {
  const op = required(ctx, 'operator');
  if (typeof given !== 'string' || !safeEqual(given, op.csrf)) throw appError('csrf_invalid');
}
