import { bodyParser } from '@koa/bodyparser';
import { decideCallApproval, isCallId, type ToolCall } from '@mcprt/calls';
import type { Tenant } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { Keyring } from '@mcprt/keyring';
import type { ToolRegistry } from '@mcprt/tools';
import type { ParameterizedContext } from 'koa';
import { z } from 'zod';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Handler, Routes } from '../http/tenant-router.js';
import { BrowserCookies } from './browser-session.js';
import { esc, page } from './pages.js';
import type { AuthServers } from './provider.js';

export interface ApprovalPageDeps {
  publicUrl: string;
  keyring: Keyring;
  servers: Pick<AuthServers, 'get'>;
  registry: Pick<ToolRegistry, 'get'>;
  engine: Parameters<typeof decideCallApproval>[0];
}

type Ctx = ParameterizedContext<ApiState>;

const csrfCookie = (slug: string) => `mcprt_csrf_approval_${slug}`;
const form = z.object({
  csrf: z.string().min(1).max(200),
  argsHash: z.string().min(1).max(200),
  decision: z.enum(['approve', 'deny']),
});

/**
 * `/t/{slug}/approvals/{call id}`: where a user approves or denies one of their own calls that a
 * `user` approval rule holds. The user is the one of the tenant's authorization-server session (the
 * browser where they signed in to their app), never whoever holds the link: the app that made the
 * call has the link too, and must not be able to approve its own call. The page shows exactly what
 * will run (tool, arguments as recorded — sensitive ones "[redacted]" —, the app, the deadline);
 * the form carries the hash of those arguments, and the decision holds only for them. Same page rules
 * as consent: escaped, CSRF token, strict CSP, no framing.
 */
export function mountApprovalPage(routes: Routes, chains: Chains, d: ApprovalPageDeps): void {
  const cookies = new BrowserCookies(d.keyring, d.publicUrl.startsWith('https://'));
  const path = (slug: string, id: string) => `/t/${slug}/approvals/${id}`;

  routes.get('/t/:tenant/approvals/:call', chains.page, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    ctx.type = 'html';
    // Not signed in here (e.g. the app holding the link): 403 page; not a call of theirs held for them: 404 page.
    const accountId = await signedIn(d, ctx, tenant);
    if (!accountId) throw appError('not_signed_in', 'sign in from your MCP app in this browser first; then open this link again');
    const call = await ownCall(ctx, accountId);
    if (!call) throw appError('call_not_found', 'there is no call of yours waiting here');
    const csrf = cookies.issueCsrf(ctx, csrfCookie(tenant.slug), path(tenant.slug, call.id));
    ctx.body = approvalPage(tenant, call, d.registry.get(call.tool)?.title, csrf);
  });

  const parse = bodyParser({ enableTypes: ['form'], formLimit: '8kb' }) as unknown as Handler;
  routes.post('/t/:tenant/approvals/:call', chains.page, parse, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const body = form.safeParse(ctx.request.body);
    if (!body.success || !cookies.csrfMatches(ctx, csrfCookie(tenant.slug), body.data.csrf)) throw appError('csrf_invalid');
    const accountId = await signedIn(d, ctx, tenant);
    if (!accountId) throw appError('not_signed_in');
    const callId = String(ctx.params.call);
    const out = await decideCallApproval(d.engine, {
      tenantId: tenant.id,
      callId,
      approve: body.data.decision === 'approve',
      argsHash: body.data.argsHash,
      actor: { kind: 'user', userId: accountId },
      requestId: ctx.state.requestId ?? null,
    });
    if (out.outcome === 'not_found') throw appError('call_not_found');
    if (out.outcome === 'expired') throw appError('approval_expired');
    if (out.outcome === 'changed') throw appError('approval_changed');
    ctx.status = 303;
    ctx.redirect(path(tenant.slug, callId));
  });
}

/** The user of the tenant's authorization-server session in this browser, if any. */
async function signedIn(d: ApprovalPageDeps, ctx: Ctx, tenant: Tenant): Promise<string | undefined> {
  const { provider } = await d.servers.get(tenant);
  const session = await provider.Session.get(ctx as never);
  return session.accountId;
}

/** The user's own call that a `user` rule held (waiting or decided); another user's, or a `tenant` rule's, is "no such call". */
async function ownCall(ctx: Ctx, accountId: string): Promise<ToolCall | undefined> {
  const id = String(ctx.params.call);
  if (!isCallId(id)) return undefined;
  const call = await required(ctx, 'scope').toolCalls.byIdForUser(id, accountId);
  return call?.approver === 'user' ? call : undefined;
}

function approvalPage(tenant: Tenant, call: ToolCall, title: string | undefined, csrf: string): string {
  const args = `<pre>${esc(JSON.stringify(call.arguments, null, 2))}</pre>`;
  const what = `<p>Tool: <strong>${esc(title ?? call.tool)}</strong> <code>${esc(call.tool)}</code></p><p>With these arguments:</p>${args}
<p class="muted">Requested by the app <code>${esc(call.clientId ?? 'unknown')}</code> on ${esc(call.createdAt.toISOString())}, for you.</p>`;
  if (call.status !== 'awaiting_approval') {
    const state =
      call.error?.code === 'approval_denied'
        ? 'You denied this call; it did not run.'
        : call.error?.code === 'approval_expired'
          ? 'Nobody approved this call in time; it did not run.'
          : call.status === 'cancelled'
            ? 'This call was cancelled; it did not run.'
            : `Approved: the call is ${call.status}.`;
    return page('Approve a tool call', `<h1>${esc(tenant.displayName)}</h1>${what}<p data-state="${esc(call.status)}"><strong>${esc(state)}</strong></p>`);
  }
  const fields = `<input type="hidden" name="csrf" value="${esc(csrf)}"><input type="hidden" name="argsHash" value="${esc(call.argsHash ?? '')}">`;
  return page(
    'Approve a tool call',
    `<h1>Approve this tool call at ${esc(tenant.displayName)}?</h1>${what}
<p>It will not run unless you approve it${call.approvalExpiresAt ? ` by ${esc(call.approvalExpiresAt.toISOString())}` : ''}.</p>
<form method="post" action="/t/${esc(tenant.slug)}/approvals/${esc(call.id)}">${fields}<div class="actions"><button class="allow" type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button></div></form>`,
  );
}
