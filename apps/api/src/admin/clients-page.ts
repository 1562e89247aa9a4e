import type { Executor } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import {
  blockAsClient,
  deleteAsClient,
  isMetadataDocumentClientId,
  listAsClients,
  listBlockedClients,
  unblockAsClient,
  type AsClientView,
} from '@mcprt/identity';
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
const deleteForm = z.object({ csrf: z.string(), client: z.string().min(1).max(300) });
/** A metadata document URL (a CIMD client id) to block or unblock. */
const documentForm = z.object({ csrf: z.string(), client: z.string().min(1).max(2_000) });

type Ctx = Parameters<Parameters<Routes['get']>[2]>[0];

function clientTable(ctx: Ctx, base: string, clients: AsClientView[]): string {
  return table(
    ['Client id', 'Name', 'Kind', 'Redirect URIs', 'Created', 'Expires', 'Grants', ''],
    clients.map((c) => [
      `<code>${esc(c.clientId)}</code>`,
      esc(c.name),
      esc(c.kind),
      esc(c.redirectUris.join(' ')),
      when(c.createdAt),
      c.expiresAt ? when(c.expiresAt) : 'never',
      String(c.grants),
      actionButton(ctx, `${base}/clients/delete`, 'Delete client', { client: c.clientId }),
    ]),
    'No clients.',
  );
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
    const [clients, grants, blocked] = await Promise.all([
      listAsClients(d.db, d.keyring, t.id),
      grantsOf(d, provider, t),
      listBlockedClients(d.db, d.keyring, t.id),
    ]);
    const base = consolePath(t.slug);
    const grantTable = table(
      ['Client', 'User', 'Scopes', 'Issued', ''],
      grants.map((g) => [
        `<strong>${esc(g.clientName)}</strong><br><code>${esc(g.clientId)}</code>`,
        `<code>${esc(g.accountId)}</code>`,
        esc(g.scopes.join(' ')),
        when(g.issuedAt),
        actionButton(ctx, `${base}/clients/revoke`, 'Revoke', { grant: g.grantId }) +
          // A client known only by its metadata document has no row in the Clients table: it is blocked from here.
          (isMetadataDocumentClientId(g.clientId) ? actionButton(ctx, `${base}/clients/block`, 'Block client', { client: g.clientId }) : ''),
      ]),
      'No grants.',
    );
    const blockedTable = table(
      ['Metadata document', 'Blocked', ''],
      blocked.map((b) => [
        `<code>${esc(b.clientId)}</code>`,
        esc(b.blockedAt),
        actionButton(ctx, `${base}/clients/unblock`, 'Unblock', { client: b.clientId }),
      ]),
      'No blocked clients.',
    );
    ctx.body = consolePage(
      ctx,
      'clients',
      'Clients & grants',
      `${notice(ctx)}<h2>Grants</h2>${grantTable}<h2>Clients</h2>${clientTable(ctx, base, clients)}${DELETE_NOTE}<h2>Blocked metadata-document clients</h2>${blockedTable}${BLOCK_NOTE}`,
    );
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

  // The one deletion (@mcprt/identity deleteAsClient), bound to this tenant: another tenant's client id
  // is not found here and changes nothing. It writes the audit row itself, naming the operator's key.
  routes.post('/t/:tenant/admin/clients/delete', chains.operator, parseForm, async (ctx) => {
    const f = formOf(ctx, deleteForm);
    const t = required(ctx, 'tenant');
    if (t.authMode !== 'builtin') throw appError('client_not_found');
    const op = required(ctx, 'operator');
    const deleted = await deleteAsClient(d.db, d.keyring, { tenantId: t.id, clientId: f.client, actor: `api_key:${op.keyId}`, requestId: ctx.state.requestId });
    if (!deleted) throw appError('client_not_found');
    backTo(ctx, t, 'clients', `Client ${deleted.clientId} deleted with ${deleted.grants} grant(s).`);
  });
  mountClientBlocks(routes, chains, d);
}

/**
 * The one block of a metadata-document client (@mcprt/identity blockAsClient) and its undoing, bound
 * to this tenant like the deletion; they write their audit rows themselves, naming the operator's key.
 */
function mountClientBlocks(routes: Routes, chains: Chains, d: ClientsPageDeps): void {
  routes.post('/t/:tenant/admin/clients/block', chains.operator, parseForm, async (ctx) => {
    const f = formOf(ctx, documentForm);
    const t = required(ctx, 'tenant');
    if (t.authMode !== 'builtin') throw appError('client_not_found');
    const op = required(ctx, 'operator');
    const out = await blockAsClient(d.db, d.keyring, { tenantId: t.id, clientId: f.client, actor: `api_key:${op.keyId}`, requestId: ctx.state.requestId });
    if (out.outcome === 'refused') throw appError('client_not_found');
    backTo(ctx, t, 'clients', `Client ${out.clientId} blocked; ${out.grants} grant(s) revoked.`);
  });

  routes.post('/t/:tenant/admin/clients/unblock', chains.operator, parseForm, async (ctx) => {
    const f = formOf(ctx, documentForm);
    const t = required(ctx, 'tenant');
    if (t.authMode !== 'builtin') throw appError('client_not_found');
    const op = required(ctx, 'operator');
    if (!(await unblockAsClient(d.db, { tenantId: t.id, clientId: f.client, actor: `api_key:${op.keyId}`, requestId: ctx.state.requestId })))
      throw appError('client_not_found');
    backTo(ctx, t, 'clients', `Client ${f.client} unblocked.`);
  });
}

const DELETE_NOTE =
  '<p class="muted">Deleting a client removes its registration, its grants with their codes and refresh tokens, and its place in trusted enterprise IdPs. Access tokens it already holds lapse within 10 minutes. A client known by its metadata document URL is not stored here: block it from its grant.</p>';
const BLOCK_NOTE =
  '<p class="muted">A blocked client\'s document is no longer fetched or honoured, and its grants are revoked with their refresh tokens; access tokens it already holds lapse within 10 minutes. Unblocking lets its users sign in and consent again.</p>';
