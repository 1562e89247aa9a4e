import { bodyParser } from '@koa/bodyparser';
import { callHistory, type TenantScope } from '@mcprt/calls';
import type { DbHandle, Tenant } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { Keyring } from '@mcprt/keyring';
import { credentialVault } from '@mcprt/providers';
import type { ParameterizedContext } from 'koa';
import { z } from 'zod';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Handler, Routes } from '../http/tenant-router.js';
import type { BrowserCookies } from './browser-session.js';
import { esc } from './pages.js';

type Ctx = ParameterizedContext<ApiState>;

const RECENT = 20;
const disconnectForm = z.object({ csrf: z.string().min(1).max(200), provider: z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/) });

/**
 * The account page's other sections: the user's most recent calls with their status, and their
 * providers: each one the tenant offers (its login IdP, `idp`, and every configured upstream) with
 * the user's credential status, a connect link (the connect flow of connect.ts) and a disconnect
 * button (the credential vault's `setInactive(…, 'revoked')`: tokens wiped, audited).
 */
export async function accountExtras(d: { sql: DbHandle['sql'] }, tenant: Tenant, scope: TenantScope, accountId: string, csrf: string): Promise<string> {
  const [calls, creds] = await Promise.all([callHistory(d.sql, tenant.id).page({ userId: accountId }, null, RECENT), scope.credentials.ofUsers([accountId])]);
  const callRows = calls
    .map(
      ({ call }) =>
        `<tr><td><code>${esc(call.id)}</code></td><td>${esc(call.tool)}</td><td data-status="${esc(call.status)}">${esc(call.status)}</td><td>${esc(call.createdAt.toISOString())}</td></tr>`,
    )
    .join('');
  const callsHtml = callRows
    ? `<table><thead><tr><th>Call</th><th>Tool</th><th>Status</th><th>Created</th></tr></thead><tbody>${callRows}</tbody></table>`
    : '<p class="muted">No calls yet.</p>';
  const providers = [...new Set(['idp', ...Object.keys(tenant.upstreams ?? {}), ...creds.map((c) => c.provider)])];
  const providerRows = providers
    .map((p) => {
      const c = creds.find((x) => x.provider === p);
      const status = c ? c.status : 'not connected';
      const disconnect =
        c && c.status !== 'revoked'
          ? `<form method="post" action="/t/${esc(tenant.slug)}/account/disconnect"><input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="provider" value="${esc(p)}"><button type="submit">Disconnect</button></form>`
          : '';
      return `<tr data-provider="${esc(p)}"><td><strong>${esc(p === 'idp' ? 'sign-in provider (idp)' : p)}</strong></td><td data-credential-status="${esc(status)}">${esc(status)}</td><td>${esc(c?.scopes.join(' ') ?? '')}</td><td><a href="/t/${esc(tenant.slug)}/connect/${esc(p)}">${c?.status === 'active' ? 'Reconnect' : 'Connect'}</a> ${disconnect}</td></tr>`;
    })
    .join('');
  return `<h2>Your recent calls</h2>${callsHtml}<h2>Your connected providers</h2><table><thead><tr><th>Provider</th><th>Status</th><th>Scopes</th><th></th></tr></thead><tbody>${providerRows}</tbody></table>`;
}

export interface DisconnectDeps {
  keyring: Keyring;
  cookies: BrowserCookies;
  csrfCookie: (slug: string) => string;
  signedIn: (ctx: Ctx, tenant: Tenant) => Promise<{ accountId: string | undefined }>;
}

/** `POST /t/{slug}/account/disconnect`: the signed-in user disconnects one of their providers (CSRF-checked, audited). */
export function mountDisconnect(routes: Routes, chains: Chains, d: DisconnectDeps): void {
  const vault = credentialVault(d.keyring);
  const parse = bodyParser({ enableTypes: ['form'], formLimit: '8kb' }) as unknown as Handler;
  routes.post('/t/:tenant/account/disconnect', chains.page, parse, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const body = disconnectForm.safeParse(ctx.request.body);
    if (!body.success || !d.cookies.csrfMatches(ctx, d.csrfCookie(tenant.slug), body.data.csrf)) throw appError('csrf_invalid');
    const { accountId } = await d.signedIn(ctx, tenant);
    if (!accountId) throw appError('not_signed_in');
    const scope = required(ctx, 'scope');
    if (!(await vault.setInactive(scope, accountId, body.data.provider, 'revoked'))) throw appError('credential_not_found');
    await scope.audit.append({
      userId: accountId,
      action: 'credential.disconnected',
      decision: 'info',
      reason: `provider=${body.data.provider}`,
      requestId: ctx.state.requestId,
    });
    ctx.status = 303;
    ctx.redirect(`/t/${tenant.slug}/account`);
  });
}
