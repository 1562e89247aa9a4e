import { apiKeysRepository, recordApiKeyUse, type DbHandle } from '@mcprt/db';
import type { RedisClient, RedisKeys } from '@mcprt/redis';
import { appError } from '@mcprt/errors';
import { apiKeySecretMatches, parseApiKey } from '@mcprt/identity';
import { z } from 'zod';
import type { BrowserCookies } from '../auth-server/browser-session.js';
import { esc, page } from '../auth-server/pages.js';
import { addressLimiter } from '../http/address-limiter.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { parseForm } from './layout.js';
import { consolePath, OPERATOR_SESSION_MS, operatorCookie, opensConsole, requireCsrf, type OperatorSessions } from './session.js';

export interface LoginDeps {
  db: DbHandle;
  sessions: OperatorSessions;
  cookies: BrowserCookies;
  redis: RedisClient;
  keys: Pick<RedisKeys, 'consoleSignInRate'>;
}

/** Sign-in attempts per (tenant, client address) per minute, across all API replicas (Redis). */
export const CONSOLE_SIGN_INS_PER_WINDOW = 10;

const loginCsrf = (slug: string) => `mcprt_op_login_${slug}`;
const loginForm = z.object({ csrf: z.string().min(1).max(200), key: z.string().max(10_000) });

/**
 * The console's sign-in: the operator pastes a tenant API key holding `admin` into a form (CSRF
 * token in a SameSite=Strict cookie of the form's path); the key is checked once, as the back office
 * checks it (this tenant's, secret hash, not revoked, the scope), and exchanged for a server-side
 * session (admin/session.ts). The key itself is never set in a cookie or stored anywhere. Every
 * attempt with a well-formed key is audited (`api_key.console_sign_in`, allow or deny). Failed attempts
 * are limited per (tenant, client address): after 10 in a minute, 429 `rate_limited` with Retry-After
 * (even for a right key) until the window ends.
 */
export function mountLogin(routes: Routes, chains: Chains, d: LoginDeps): void {
  // Unauthenticated and checking a secret: failed attempts count; once spent, even a right key waits.
  const failures = addressLimiter({ redis: d.redis, keyPrefix: d.keys.consoleSignInRate, points: CONSOLE_SIGN_INS_PER_WINDOW, windowMs: 60_000 });
  routes.get('/t/:tenant/admin/login', chains.console, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const base = consolePath(tenant.slug);
    const csrf = d.cookies.issueCsrf(ctx, loginCsrf(tenant.slug), `${base}/login`);
    ctx.type = 'html';
    ctx.body = page(
      `${tenant.displayName} admin`,
      `<h1>${esc(tenant.displayName)} admin console</h1>
<p>Sign in with an API key of this tenant that holds the <code>admin</code> scope (<code>pnpm cli tenant api-key create --slug ${esc(tenant.slug)} --scopes admin</code>). The key is checked once and exchanged for a 30-minute session; it is not kept in this browser.</p>
<form method="post" action="${esc(`${base}/login`)}"><input type="hidden" name="csrf" value="${esc(csrf)}">
<label>API key<input type="password" name="key" autocomplete="off" required size="60"></label>
<div class="actions"><button class="allow" type="submit">Sign in</button></div></form>`,
    );
  });

  routes.post('/t/:tenant/admin/login', chains.console, parseForm, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const body = loginForm.safeParse(ctx.request.body);
    if (!body.success || !d.cookies.csrfMatches(ctx, loginCsrf(tenant.slug), body.data.csrf)) throw appError('csrf_invalid');
    d.cookies.clear(ctx, loginCsrf(tenant.slug), `${consolePath(tenant.slug)}/login`);
    const tooMany = (retryAfterSeconds: number) =>
      appError('rate_limited', `at most ${CONSOLE_SIGN_INS_PER_WINDOW} failed console sign-ins a minute from one address`, { details: { retryAfterSeconds } });
    const spent = await failures.spent(tenant.id, ctx.ip);
    if (spent !== undefined) throw tooMany(spent);
    const refused = async (): Promise<never> => {
      const wait = await failures.consume(tenant.id, ctx.ip);
      throw wait === undefined ? appError('operator_sign_in_failed') : tooMany(wait);
    };
    const parsed = parseApiKey(body.data.key.trim());
    const key = parsed ? await apiKeysRepository(d.db.db, tenant.id).byId(parsed.id) : undefined;
    // One answer for unknown, foreign-tenant, wrong-secret, revoked and unscoped keys.
    if (!parsed || !key || !apiKeySecretMatches(parsed.secret, key.secretHash)) return refused();
    const use = { tenantId: tenant.id, keyId: key.id, route: 'console_sign_in', requestId: ctx.state.requestId };
    if (!opensConsole(key)) {
      await recordApiKeyUse(d.db.sql, { ...use, decision: 'deny', reason: key.revokedAt ? 'api_key_revoked' : 'insufficient_scope' });
      return refused();
    }
    await recordApiKeyUse(d.db.sql, { ...use, decision: 'allow' });
    const session = await d.sessions.create(tenant.id, key.id);
    d.cookies.setSession(ctx, operatorCookie(tenant.slug), session.id, consolePath(tenant.slug), OPERATOR_SESSION_MS);
    ctx.status = 303;
    ctx.redirect(`${consolePath(tenant.slug)}/calls`);
  });

  routes.post('/t/:tenant/admin/logout', chains.operator, parseForm, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const body = (ctx.request.body ?? {}) as Record<string, unknown>;
    requireCsrf(ctx, body.csrf);
    const id = d.cookies.signedValue(ctx, operatorCookie(tenant.slug));
    if (id) await d.sessions.destroy(id);
    d.cookies.clear(ctx, operatorCookie(tenant.slug), consolePath(tenant.slug));
    ctx.status = 303;
    ctx.redirect(`${consolePath(tenant.slug)}/login`);
  });
}
