import { bodyParser } from '@koa/bodyparser';
import { oidcStoreRepository, type Executor, type Tenant } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import { openOidcPayload, storeKey } from '@mcprt/identity';
import type { Keyring } from '@mcprt/keyring';
import type { ParameterizedContext } from 'koa';
import { z } from 'zod';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Handler, Routes } from '../http/tenant-router.js';
import { BrowserCookies } from './browser-session.js';
import { esc, page, scopeItems } from './pages.js';
import type { AuthServers } from './provider.js';
import { parseScopes } from '@mcprt/policy';

export interface AccountDeps {
  publicUrl: string;
  db: Executor;
  keyring: Keyring;
  servers: Pick<AuthServers, 'get'>;
}

interface GrantView {
  grantId: string;
  clientId: string;
  clientName: string;
  scopes: string[];
  issuedAt: Date | undefined;
}

type Ctx = ParameterizedContext<ApiState>;
type Provider = Awaited<ReturnType<AuthServers['get']>>['provider'];

const csrfCookie = (slug: string) => `mcprt_csrf_account_${slug}`;

/**
 * `/t/{slug}/account`: the signed-in user's grants (one per MCP client they allowed), each revocable.
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
    ctx.body = accountPage(tenant, grants, csrf);
  });

  const form = z.object({ csrf: z.string().min(1).max(200), grant: z.string().min(1).max(200) });
  const parse = bodyParser({ enableTypes: ['form'], formLimit: '8kb' }) as unknown as Handler;
  routes.post('/t/:tenant/account/revoke', chains.page, parse, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const body = form.safeParse(ctx.request.body);
    if (!body.success || !cookies.csrfMatches(ctx, csrfCookie(tenant.slug), body.data.csrf)) throw appError('csrf_invalid');
    const { provider, accountId } = await signedIn(ctx, tenant);
    if (!accountId) throw appError('not_signed_in');
    const grant = await provider.Grant.find(body.data.grant);
    // Someone else's grant is answered like a missing one.
    if (!grant || grant.accountId !== accountId) throw appError('grant_not_found');
    await oidcStoreRepository(d.db, tenant.id).revokeByGrantId(storeKey(body.data.grant));
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

/** The account's grants, opened from the tenant's store, with each client's name. */
async function grantsOf(d: AccountDeps, provider: Provider, tenant: Tenant, accountId: string): Promise<GrantView[]> {
  const rows = await oidcStoreRepository(d.db, tenant.id).ofAccount('Grant', storeKey(accountId));
  const grants: GrantView[] = [];
  for (const row of rows) {
    const g = openOidcPayload(d.keyring, tenant.id, 'Grant', row.id, row.payload) as {
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
  return grants;
}

function accountPage(tenant: Tenant, grants: GrantView[], csrf: string): string {
  const list = grants.length
    ? grants
        .map(
          (g) => `<li><strong>${esc(g.clientName)}</strong> <span class="muted">${esc(g.clientId)}</span><ul>${scopeItems(g.scopes)}</ul>
<form method="post" action="/t/${esc(tenant.slug)}/account/revoke"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="grant" value="${esc(g.grantId)}"><button type="submit">Revoke</button></form></li>`,
        )
        .join('')
    : '<li>No apps yet.</li>';
  return page('Your account', `<h1>Apps you allowed at ${esc(tenant.displayName)}</h1><ul>${list}</ul>`);
}
