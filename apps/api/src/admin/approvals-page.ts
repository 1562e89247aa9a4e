import { awaitingTenantApproval, type AwaitingApproval } from '@mcprt/calls';
import type { DbHandle } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import { CALLS_APPROVE } from '@mcprt/policy';
import type { ToolRegistry } from '@mcprt/tools';
import type { ParameterizedContext } from 'koa';
import { z } from 'zod';
import { esc } from '../auth-server/pages.js';
import { decideAsTenantApprover } from '../calls/operator-approval.js';
import { required, type ApiState } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { backTo, consolePage, csrfField, formOf, notice, parseForm, table, when } from './layout.js';
import { consolePath } from './session.js';

export interface ApprovalsPageDeps {
  sql: DbHandle['sql'];
  registry: Pick<ToolRegistry, 'get'>;
  /** What the call engine's decision needs (the approvers' API's own `decideAsTenantApprover`). */
  engine: Parameters<typeof decideAsTenantApprover>[0];
}

type Ctx = ParameterizedContext<ApiState>;

/** How many waiting calls the page lists (soonest deadline first); the API lists them all. */
const SHOWN = 100;

const decisionForm = z.object({
  csrf: z.string(),
  decision: z.enum(['approve', 'deny']),
  argsHash: z.string().min(1).max(200),
});

/**
 * Approvals: the calls a `tenant` approval rule holds, waiting for a tenant approver (a `user` rule's
 * calls are their user's alone, on the user's approval page): tool, arguments as recorded and as they
 * will run (sensitive ones `[redacted]`: sealed for the worker only), on whose behalf, which app,
 * requested at, deadline; approve or deny each. The decision is the approvers' API's
 * (`decideAsTenantApprover` over `decideCallApproval`, bound to the hash of the arguments shown, fenced on status and deadline, so
 * concurrent decisions give one), audited `tool_call.approved`/`denied` with `api_key:<key id>`. Like
 * that API, deciding needs `calls:approve` on the key that signed in (`admin` alone only lists).
 */
export function mountApprovalsPage(routes: Routes, chains: Chains, d: ApprovalsPageDeps): void {
  routes.get('/t/:tenant/admin/approvals', chains.operator, async (ctx) => {
    const t = required(ctx, 'tenant');
    const waiting = await awaitingTenantApproval(d.sql, t.id, SHOWN);
    const canDecide = mayDecide(ctx);
    const rows = waiting.map((w) => row(ctx, d, w, canDecide));
    const lacking = canDecide
      ? ''
      : `<p class="bad" data-approve-scope="missing">This key lacks <code>${esc(CALLS_APPROVE)}</code>: it can list the calls, not decide them. Sign in with a key holding <code>admin</code> and <code>${esc(CALLS_APPROVE)}</code>.</p>`;
    ctx.type = 'html';
    ctx.body = consolePage(
      ctx,
      'approvals',
      'Approvals',
      `${notice(ctx)}${lacking}${table(['Call', 'Tool', 'Arguments (as they will run)', 'On behalf of', 'Requested', 'Expires', ''], rows, 'No call is waiting for a tenant approver.')}`,
    );
  });

  routes.post('/t/:tenant/admin/approvals/:id', chains.operator, parseForm, async (ctx) => {
    const f = formOf(ctx, decisionForm);
    if (!mayDecide(ctx)) throw appError('insufficient_scope', `deciding an approval needs an API key with ${CALLS_APPROVE}`);
    const t = required(ctx, 'tenant');
    const out = await decideAsTenantApprover(d.engine, {
      tenantId: t.id,
      callId: String(ctx.params['id']),
      approve: f.decision === 'approve',
      argsHash: f.argsHash,
      keyId: required(ctx, 'operator').keyId,
      requestId: ctx.state.requestId ?? null,
    });
    backTo(ctx, t, 'approvals', `Call ${out.call.id} ${out.outcome}.`);
  });
}

const mayDecide = (ctx: Ctx): boolean => required(ctx, 'operator').scopes.includes(CALLS_APPROVE);

function row(ctx: Ctx, d: ApprovalsPageDeps, w: AwaitingApproval, canDecide: boolean): string[] {
  const { call } = w;
  const base = consolePath(required(ctx, 'tenant').slug);
  const title = d.registry.get(call.tool)?.title;
  const who = [w.userName, w.userEmail]
    .filter((v): v is string => !!v)
    .map(esc)
    .join(' · ');
  const forms = canDecide
    ? `<form method="post" action="${esc(`${base}/approvals/${call.id}`)}" class="row">${csrfField(ctx)}<input type="hidden" name="argsHash" value="${esc(call.argsHash ?? '')}"><button class="allow" type="submit" name="decision" value="approve">Approve</button><button type="submit" name="decision" value="deny">Deny</button></form>`
    : '';
  return [
    `<a href="${esc(`${base}/calls/${call.id}`)}"><code data-call="${esc(call.id)}">${esc(call.id)}</code></a>`,
    `${title ? `${esc(title)}<br>` : ''}<code>${esc(call.tool)}</code>`,
    `<pre>${esc(JSON.stringify(call.arguments, null, 2))}</pre>`,
    `${who ? `${who}<br>` : ''}<code>${esc(call.userId)}</code><br><span class="muted">app <code>${esc(call.clientId ?? 'unknown')}</code></span>`,
    when(call.createdAt),
    when(call.approvalExpiresAt),
    forms,
  ];
}
