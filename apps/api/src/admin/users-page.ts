import type { Credential } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { Keyring } from '@mcprt/keyring';
import { credentialVault } from '@mcprt/providers';
import { z } from 'zod';
import { esc } from '../auth-server/pages.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { actionButton, auditAction, backTo, consolePage, formOf, notice, parseForm, table, when } from './layout.js';
import { consolePath } from './session.js';

const PAGE = 50;
const PROVIDER = z.string().regex(/^[a-z][a-z0-9_-]{0,31}$/, 'provider must be a provider name');
const credentialForm = z.object({ csrf: z.string(), user: z.uuid('user must be a user id'), provider: PROVIDER });
const pageQuery = z.object({ page: z.coerce.number().int().min(0).max(10_000).default(0) });

/**
 * Users: the tenant's users (50 a page, newest first) with their connected providers (the login
 * IdP's credential and each connected one: status, scopes, expiry; never a token). Per credential:
 * revoke (the tokens are wiped and the worker refuses it until the user connects again) or require
 * reauth (kept, but the next call asks the user to connect again) — the credential vault's
 * `setInactive`, audited with the operator's key.
 */
export function mountUsersPage(routes: Routes, chains: Chains, d: { keyring: Keyring }): void {
  const vault = credentialVault(d.keyring);

  routes.get('/t/:tenant/admin/users', chains.operator, async (ctx) => {
    const t = required(ctx, 'tenant');
    const scope = required(ctx, 'scope');
    const q = pageQuery.safeParse(ctx.query);
    const pageNo = q.success ? q.data.page : 0;
    const users = await scope.users.list(PAGE + 1, pageNo * PAGE);
    const shown = users.slice(0, PAGE);
    const creds = await scope.credentials.ofUsers(shown.map((u) => u.id));
    const base = consolePath(t.slug);
    const rows = shown.map((u) => [
      `<code>${esc(u.id)}</code><br><span class="muted">${esc(u.subject)}</span>`,
      esc(u.email ?? u.displayName ?? ''),
      when(u.createdAt),
      providerCells(
        ctx,
        base,
        creds.filter((c) => c.userId === u.id),
      ),
      `<a href="${esc(`${base}/calls?user=${u.id}`)}">calls</a>`,
    ]);
    const more = users.length > PAGE ? `<p><a href="${esc(`${base}/users?page=${pageNo + 1}`)}">More users →</a></p>` : '';
    ctx.type = 'html';
    ctx.body = consolePage(
      ctx,
      'users',
      'Users',
      `${notice(ctx)}${table(['User', 'Email / name', 'First seen', 'Connected providers', ''], rows, 'No users yet.')}${more}`,
    );
  });

  for (const [action, status, label] of [
    ['revoke', 'revoked', 'revoked'],
    ['reauth', 'reauth_required', 'marked for reauth'],
  ] as const) {
    routes.post(`/t/:tenant/admin/users/credentials/${action}`, chains.operator, parseForm, async (ctx) => {
      const f = formOf(ctx, credentialForm);
      const scope = required(ctx, 'scope');
      // Another tenant's user, or a provider the user has not connected: not found (the vault reads through this tenant's scope).
      if (!(await vault.setInactive(scope, f.user, f.provider, status))) throw appError('credential_not_found');
      await auditAction(ctx, `credential_${status}`, { userId: f.user, reason: `provider=${f.provider}` });
      backTo(ctx, required(ctx, 'tenant'), 'users', `${f.provider} of ${f.user} ${label}.`);
    });
  }
}

function providerCells(ctx: Parameters<typeof actionButton>[0], base: string, creds: Credential[]): string {
  if (creds.length === 0) return '<span class="muted">none</span>';
  return creds
    .map((c) => {
      const fields = { user: c.userId, provider: c.provider };
      const actions =
        c.status === 'active'
          ? `${actionButton(ctx, `${base}/users/credentials/reauth`, 'Require reauth', fields)} ${actionButton(ctx, `${base}/users/credentials/revoke`, 'Revoke', fields)}`
          : c.status === 'reauth_required'
            ? actionButton(ctx, `${base}/users/credentials/revoke`, 'Revoke', fields)
            : '';
      return `<div data-provider="${esc(c.provider)}"><strong>${esc(c.provider)}</strong> <span data-credential-status="${esc(c.status)}">${esc(c.status)}</span> <span class="muted">${esc(c.scopes.join(' '))} · expires ${when(c.expiresAt)}</span> ${actions}</div>`;
    })
    .join('');
}
