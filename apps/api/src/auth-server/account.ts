import { randomBytes, timingSafeEqual } from 'node:crypto';
import { bodyParser } from '@koa/bodyparser';
import type Router from '@koa/router';
import { openOidcPayload, storeKey } from '@mcprt/identity';
import { oidcStoreRepository, type Tenant } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import type { Middleware, ParameterizedContext } from 'koa';
import { z } from 'zod';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import type { ApiResources } from '../resources.js';
import { esc, page, pageCsp, scopeItems } from './pages.js';
import { htmlErrors } from './mount.js';
import type { AuthServers } from './provider.js';
import { parseScopes } from '@mcprt/policy';

interface GrantView {
  grantId: string;
  clientId: string;
  clientName: string;
  scopes: string[];
  issuedAt: Date | undefined;
}

/**
 * `/t/{slug}/account`: the signed-in user's grants (one per MCP client they allowed),
 * each revocable. The user is the one of the tenant's authorization-server session (its cookie);
 * revoking deletes the grant and every code and refresh token of it (access tokens, JWTs, lapse
 * within 10 minutes). Same page rules as consent: escaped, CSRF token, strict CSP.
 */
export function mountAccount(router: Router<ApiState>, r: ApiResources, servers: AuthServers): void {
  const tenantOf = resolveTenant(r.tenants, r.db.db);
  const csrfCookie = (slug: string) => `mcprt_csrf_account_${slug}`;
  const secure = r.config.PUBLIC_URL.startsWith('https://');

  const signedIn = async (ctx: ParameterizedContext<ApiState>, tenant: Tenant) => {
    const { provider } = await servers.get(tenant);
    const session = await provider.Session.get(ctx as never);
    return { provider, accountId: session.accountId };
  };

  const headers = (ctx: ParameterizedContext<ApiState>) => {
    ctx.set('Cache-Control', 'no-store');
    ctx.set('X-Frame-Options', 'DENY');
    ctx.set('Referrer-Policy', 'no-referrer');
    ctx.set('X-Content-Type-Options', 'nosniff');
    ctx.set('Content-Security-Policy', pageCsp());
    ctx.type = 'html';
  };

  const builtinOnly: Middleware<ApiState> = async (ctx, next) => {
    if (required(ctx, 'tenant').authMode !== 'builtin') throw new AppError('not_found', 'not_found', 'not found');
    await next();
  };

  router.get('/t/:tenant/account', htmlErrors, tenantOf, builtinOnly, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    headers(ctx);
    const { provider, accountId } = await signedIn(ctx, tenant);
    if (!accountId) {
      ctx.body = page(
        'Your account',
        `<h1>${esc(tenant.displayName)}</h1><p>You are not signed in here. Sign in from your MCP app first; then this page lists the apps you allowed.</p>`,
      );
      return;
    }
    const rows = await oidcStoreRepository(r.db.db, tenant.id).ofAccount('Grant', storeKey(accountId));
    const grants: GrantView[] = [];
    for (const row of rows) {
      const g = openOidcPayload(r.keyring, tenant.id, 'Grant', row.id, row.payload) as {
        jti: string;
        clientId: string;
        resources?: Record<string, string>;
        iat?: number;
      };
      const client = await provider.Client.find(g.clientId).catch(() => undefined);
      grants.push({
        grantId: g.jti,
        clientId: g.clientId,
        clientName: typeof client?.clientName === 'string' && client.clientName ? client.clientName : g.clientId,
        scopes: Object.values(g.resources ?? {}).flatMap((s) => parseScopes(s)),
        issuedAt: g.iat ? new Date(g.iat * 1000) : undefined,
      });
    }
    const csrf = randomBytes(32).toString('base64url');
    ctx.cookies.set(csrfCookie(tenant.slug), csrf, {
      path: `/t/${tenant.slug}/account`,
      httpOnly: true,
      sameSite: 'strict',
      signed: true,
      secure,
      maxAge: 600_000,
    });
    const list = grants.length
      ? grants
          .map(
            (g) => `<li><strong>${esc(g.clientName)}</strong> <span class="muted">${esc(g.clientId)}</span><ul>${scopeItems(g.scopes)}</ul>
<form method="post" action="/t/${esc(tenant.slug)}/account/revoke"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="grant" value="${esc(g.grantId)}"><button type="submit">Revoke</button></form></li>`,
          )
          .join('')
      : '<li>No apps yet.</li>';
    ctx.body = page('Your account', `<h1>Apps you allowed at ${esc(tenant.displayName)}</h1><ul>${list}</ul>`);
  });

  const form = z.object({ csrf: z.string().min(1).max(200), grant: z.string().min(1).max(200) });
  router.post('/t/:tenant/account/revoke', htmlErrors, tenantOf, builtinOnly, bodyParser({ enableTypes: ['form'], formLimit: '8kb' }), async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const body = form.safeParse(ctx.request.body);
    const expected = ctx.cookies.get(csrfCookie(tenant.slug), { signed: true });
    if (!body.success || !expected || !safeEqual(body.data.csrf, expected)) {
      throw new AppError('policy', 'csrf_invalid', 'the form is missing its CSRF token or it does not match; reload the page', { status: 403 });
    }
    const { provider, accountId } = await signedIn(ctx, tenant);
    if (!accountId) throw new AppError('auth', 'not_signed_in', 'sign in from your MCP app first', { status: 403 });
    const grant = await provider.Grant.find(body.data.grant);
    // Someone else's grant is answered like a missing one.
    if (!grant || grant.accountId !== accountId) throw new AppError('not_found', 'grant_not_found', 'no such grant');
    await oidcStoreRepository(r.db.db, tenant.id).revokeByGrantId(storeKey(body.data.grant));
    await grant.destroy();
    await required(ctx, 'scope').audit.append({
      userId: accountId,
      clientId: grant.clientId ?? null,
      action: 'grant.revoked',
      decision: 'info',
      requestId: ctx.state.requestId,
    });
    ctx.status = 303;
    ctx.redirect(`/t/${tenant.slug}/account`);
  });
}

function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
