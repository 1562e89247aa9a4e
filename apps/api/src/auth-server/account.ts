import { bodyParser } from '@koa/bodyparser';
import type { DbHandle, Executor, Tenant } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { Keyring } from '@mcprt/keyring';
import type { ParameterizedContext } from 'koa';
import { z } from 'zod';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Handler, Routes } from '../http/tenant-router.js';
import { accountExtras, mountDisconnect } from './account-extras.js';
import { BrowserCookies } from './browser-session.js';
import { grantsOf, revokeGrant, type GrantView } from './grants.js';
import { esc, page, scopeItems } from './pages.js';
import type { AuthServers } from './provider.js';

export interface AccountDeps {
  publicUrl: string;
  db: Executor;
  sql: DbHandle['sql'];
  keyring: Keyring;
  servers: Pick<AuthServers, 'get'>;
}

type Ctx = ParameterizedContext<ApiState>;

const csrfCookie = (slug: string) => `mcprt_csrf_account_${slug}`;

/**
 * `/t/{slug}/account`: the signed-in user's grants (one per MCP client they allowed), each revocable;
 * their recent calls and their connected providers (connect, disconnect: account-extras.ts).
 * The user is the one of the tenant's authorization-server session (its cookie); revoking deletes the
 * grant and every code and refresh token of it (access tokens, JWTs, lapse within their lifetime).
 * Same page rules as consent: escaped, CSRF token, strict CSP.
 */
export function mountAccount(routes: Routes, chains: Chains, d: AccountDeps): void {
  const cookies = new BrowserCookies(d.keyring, d.publicUrl.startsWith('https://'));
  const signedIn = async (ctx: Ctx, tenant: Tenant) => {
    const { provider } = await d.servers.get(tenant);
    const session = await provider.Session.get(ctx as never);
    return { provider, accountId: session.accountId };
  };

  routes.get('/t/:tenant/account', chains.page, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    ctx.type = 'html';
    const { provider, accountId } = await signedIn(ctx, tenant);
    if (!accountId) {
      ctx.body = page(
        'Your account',
        `<h1>${esc(tenant.displayName)}</h1><p>You are not signed in here. Sign in from your MCP app first; then this page lists the apps you allowed.</p>`,
      );
      return;
    }
    const grants = await grantsOf(d, provider, tenant, accountId);
    const csrf = cookies.issueCsrf(ctx, csrfCookie(tenant.slug), `/t/${tenant.slug}/account`);
    const extras = await accountExtras(d, tenant, required(ctx, 'scope'), accountId, csrf);
    ctx.body = accountPage(tenant, grants, csrf, extras);
  });

  const form = z.object({ csrf: z.string().min(1).max(200), grant: z.string().min(1).max(200) });
  const parse = bodyParser({ enableTypes: ['form'], formLimit: '8kb' }) as unknown as Handler;
  routes.post('/t/:tenant/account/revoke', chains.page, parse, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const body = form.safeParse(ctx.request.body);
    if (!body.success || !cookies.csrfMatches(ctx, csrfCookie(tenant.slug), body.data.csrf)) throw appError('csrf_invalid');
    const { provider, accountId } = await signedIn(ctx, tenant);
    if (!accountId) throw appError('not_signed_in');
    // Someone else's grant is answered like a missing one.
    const revoked = await revokeGrant(d, provider, tenant, body.data.grant, accountId);
    if (!revoked) throw appError('grant_not_found');
    await required(ctx, 'scope').audit.append({
      userId: accountId,
      clientId: revoked.clientId,
      action: 'grant.revoked',
      decision: 'info',
      requestId: ctx.state.requestId,
    });
    ctx.status = 303;
    ctx.redirect(`/t/${tenant.slug}/account`);
  });

  mountDisconnect(routes, chains, { ...d, cookies, csrfCookie, signedIn });
}

function accountPage(tenant: Tenant, grants: GrantView[], csrf: string, extras: string): string {
  const list = grants.length
    ? grants
        .map(
          (g) => `<li><strong>${esc(g.clientName)}</strong> <span class="muted">${esc(g.clientId)}</span><ul>${scopeItems(g.scopes)}</ul>
<form method="post" action="/t/${esc(tenant.slug)}/account/revoke"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="grant" value="${esc(g.grantId)}"><button type="submit">Revoke</button></form></li>`,
        )
        .join('')
    : '<li>No apps yet.</li>';
  return page('Your account', `<h1>Apps you allowed at ${esc(tenant.displayName)}</h1><ul>${list}</ul>${extras}`, { wide: true });
}
