import { apiKeysRepository, type Executor } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import { generateApiKey } from '@mcprt/identity';
import { API_KEY_SCOPES } from '@mcprt/policy';
import { z } from 'zod';
import { esc } from '../auth-server/pages.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { actionButton, auditAction, backTo, consolePage, csrfField, formOf, notice, parseForm, table, when } from './layout.js';
import { consolePath } from './session.js';

const createForm = z.strictObject({
  csrf: z.string(),
  name: z.string().trim().min(1, 'name the key').max(100),
  scope: z
    .union([z.string(), z.array(z.string())])
    .transform((v) => [...new Set(Array.isArray(v) ? v : [v])])
    .refine((v) => v.every((s) => (API_KEY_SCOPES as readonly string[]).includes(s)), 'unknown scope'),
});
const revokeForm = z.object({ csrf: z.string(), id: z.string().regex(/^ak[a-z2-7]{16}$/, 'not a key id') });

/**
 * API keys: the tenant's keys (id, name, scopes, state, last use; never a secret), creating one
 * (the full key is shown once, on the answer to the form, and only its hash is stored: the CLI's
 * `tenant api-key create`), and revoking one (refused from then on by every replica, its console
 * sessions included). Both audited with the operator's key.
 */
export function mountKeysPage(routes: Routes, chains: Chains, d: { db: Executor }): void {
  const list = async (ctx: Parameters<typeof consolePage>[0]) => {
    const t = required(ctx, 'tenant');
    const keys = await apiKeysRepository(d.db, t.id).list();
    const base = consolePath(t.slug);
    const rows = keys.map((k) => [
      `<code>${esc(k.id)}</code>`,
      esc(k.name),
      esc(k.scopes.join(', ')),
      k.revokedAt ? `<span class="bad" data-key-state="revoked">revoked ${when(k.revokedAt)}</span>` : '<span data-key-state="active">active</span>',
      when(k.lastUsedAt),
      when(k.createdAt),
      k.revokedAt ? '' : actionButton(ctx, `${base}/keys/revoke`, 'Revoke', { id: k.id }),
    ]);
    const scopes = API_KEY_SCOPES.map((s) => `<label class="check"><input type="checkbox" name="scope" value="${esc(s)}">${esc(s)}</label>`).join('');
    const form = `<h2>New key</h2><form method="post" action="${esc(`${base}/keys`)}" class="row">${csrfField(ctx)}<label>Name<input name="name" required maxlength="100"></label>${scopes}<button type="submit">Create key</button></form>`;
    return `${table(['Id', 'Name', 'Scopes', 'State', 'Last used', 'Created', ''], rows, 'No keys.')}${form}`;
  };

  routes.get('/t/:tenant/admin/keys', chains.operator, async (ctx) => {
    ctx.type = 'html';
    ctx.body = consolePage(ctx, 'keys', 'API keys', `${notice(ctx)}${await list(ctx)}`);
  });

  routes.post('/t/:tenant/admin/keys', chains.operator, parseForm, async (ctx) => {
    const f = formOf(ctx, createForm);
    if (f.scope.length === 0) throw appError('invalid_request', 'pick at least one scope');
    const t = required(ctx, 'tenant');
    const k = generateApiKey();
    await apiKeysRepository(d.db, t.id).create({ id: k.id, name: f.name, secretHash: k.secretHash, scopes: f.scope });
    await auditAction(ctx, 'api_key_created', { reason: `${k.id} scopes=${f.scope.join(',')}` });
    ctx.type = 'html';
    // The one time the key is shown: on this answer (no-store), never in a URL or a later page.
    ctx.body = consolePage(
      ctx,
      'keys',
      'API keys',
      `<p class="ok">Created key <code>${esc(k.id)}</code>. Copy it now: it is shown only this once.</p><p class="secret" data-new-key>${esc(k.key)}</p>${await list(ctx)}`,
    );
  });

  routes.post('/t/:tenant/admin/keys/revoke', chains.operator, parseForm, async (ctx) => {
    const f = formOf(ctx, revokeForm);
    const t = required(ctx, 'tenant');
    if (!(await apiKeysRepository(d.db, t.id).revoke(f.id))) throw appError('api_key_not_found');
    await auditAction(ctx, 'api_key_revoked', { reason: f.id });
    // Revoking the key this session signed in with ends the session: the next page is the sign-in form.
    backTo(ctx, t, 'keys', `Key ${f.id} revoked.`);
  });
}
