import { oidcStoreRepository, type Executor, type Tenant } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import { openOidcPayload } from '@mcprt/identity';
import type { Keyring } from '@mcprt/keyring';
import { z } from 'zod';
import { grantsOf, revokeGrant } from '../auth-server/grants.js';
import { esc } from '../auth-server/pages.js';
import type { AuthServers } from '../auth-server/provider.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { actionButton, auditAction, backTo, consolePage, formOf, notice, parseForm, table, when } from './layout.js';
import { consolePath } from './session.js';

export interface ClientsPageDeps {
  db: Executor;
  keyring: Keyring;
  servers: Pick<AuthServers, 'get'>;
}

const revokeForm = z.object({ csrf: z.string(), grant: z.string().min(1).max(200) });

/** The tenant's OAuth clients (registered by the CLI, dynamically or by metadata document), without secrets. */
async function clientsOf(d: ClientsPageDeps, tenant: Tenant): Promise<{ id: string; name: string; redirects: string[]; expiresAt: Date | null }[]> {
  const rows = await oidcStoreRepository(d.db, tenant.id).ofModel('Client', 200);
  return rows.map((row) => {
    const c = openOidcPayload(d.keyring, tenant.id, 'Client', row.id, row.payload) as { client_id: string; client_name?: string; redirect_uris?: string[] };
    return { id: c.client_id, name: c.client_name ?? '', redirects: c.redirect_uris ?? [], expiresAt: row.expiresAt };
  });
}

/**
 * Clients & grants (a tenant that is its own authorization server): its OAuth clients, and every
 * grant (a user allowed a client), each revocable — the account page's revocation (auth-server/grants.ts),
 * audited with the operator's key. A tenant whose IdP issues the tokens has none here.
 */
export function mountClientsPage(routes: Routes, chains: Chains, d: ClientsPageDeps): void {
  routes.get('/t/:tenant/admin/clients', chains.operator, async (ctx) => {
    const t = required(ctx, 'tenant');
    ctx.type = 'html';
    if (t.authMode !== 'builtin') {
      ctx.body = consolePage(
        ctx,
        'clients',
        'Clients & grants',
        `<p>This tenant's access tokens are issued by its identity provider (${esc(t.idpIssuer)}): clients and grants live there.</p>`,
      );
      return;
    }
    const { provider } = await d.servers.get(t);
    const [clients, grants] = await Promise.all([clientsOf(d, t), grantsOf(d, provider, t)]);
    const base = consolePath(t.slug);
    const clientTable = table(
      ['Client id', 'Name', 'Redirect URIs', 'Expires'],
      clients.map((c) => [`<code>${esc(c.id)}</code>`, esc(c.name), esc(c.redirects.join(' ')), c.expiresAt ? when(c.expiresAt) : 'never']),
      'No clients.',
    );
    const grantTable = table(
      ['Client', 'User', 'Scopes', 'Issued', ''],
      grants.map((g) => [
        `<strong>${esc(g.clientName)}</strong><br><code>${esc(g.clientId)}</code>`,
        `<code>${esc(g.accountId)}</code>`,
        esc(g.scopes.join(' ')),
        when(g.issuedAt),
        actionButton(ctx, `${base}/clients/revoke`, 'Revoke', { grant: g.grantId }),
      ]),
      'No grants.',
    );
    ctx.body = consolePage(ctx, 'clients', 'Clients & grants', `${notice(ctx)}<h2>Grants</h2>${grantTable}<h2>Clients</h2>${clientTable}`);
  });

  routes.post('/t/:tenant/admin/clients/revoke', chains.operator, parseForm, async (ctx) => {
    const f = formOf(ctx, revokeForm);
    const t = required(ctx, 'tenant');
    if (t.authMode !== 'builtin') throw appError('grant_not_found');
    const { provider } = await d.servers.get(t);
    // The provider and the store are this tenant's: another tenant's grant id is not found here.
    const revoked = await revokeGrant(d, provider, t, f.grant);
    if (!revoked) throw appError('grant_not_found');
    await auditAction(ctx, 'grant_revoked', { userId: revoked.accountId, reason: `client=${revoked.clientId ?? '?'}` });
    backTo(ctx, t, 'clients', 'Grant revoked.');
  });
}
