import { CALL_STATUSES, callHistory, isFinal, type CancelDeps, type ToolCall } from '@mcprt/calls';
import type { DbHandle } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import { z } from 'zod';
import { esc } from '../auth-server/pages.js';
import { cancelAsOperator } from '../calls/operator-cancel.js';
import { decodeCallCursor, encodeCallCursor } from '../history/cursor.js';
import { adminCallsQuery, callIdParam, parseQuery } from '../history/schemas.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { actionButton, backTo, consolePage, formOf, notice, parseForm, table, when } from './layout.js';
import { consolePath } from './session.js';

export interface CallsPageDeps {
  sql: DbHandle['sql'];
  /** What the call engine's cancel needs (the same cancelCall as every other cancel path). */
  engine: CancelDeps;
}

/** A browser's `datetime-local` value (no zone) is read as UTC; empty fields are absent. */
function fromForm(query: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(query)) {
    if (v === '' || k === 'done') continue;
    out[k] = typeof v === 'string' && (k === 'since' || k === 'until') && /^\d{4}-\d\d-\d\dT\d\d:\d\d$/.test(v) ? `${v}:00Z` : v;
  }
  return out;
}

const cancelForm = z.object({ csrf: z.string() });

/**
 * Calls: every user's calls of the tenant, filtered by user, tool, status and time, newest first,
 * 50 a page (the back office's keyset cursor); one call with its arguments (sensitive ones are stored
 * redacted), result or error, attempts and audit trail; and cancelling a call that is not final.
 */
export function mountCallsPage(routes: Routes, chains: Chains, d: CallsPageDeps): void {
  routes.get('/t/:tenant/admin/calls', chains.operator, async (ctx) => {
    const t = required(ctx, 'tenant');
    const q = parseQuery(adminCallsQuery, fromForm(ctx.query));
    const rows = await callHistory(d.sql, t.id).page(
      { userId: q.user, status: q.status, tool: q.tool, since: q.since, until: q.until },
      q.cursor ? decodeCallCursor(q.cursor) : null,
      q.limit + 1,
    );
    const shown = rows.slice(0, q.limit);
    const last = shown[shown.length - 1];
    const base = consolePath(t.slug);
    const list = table(
      ['Call', 'User', 'Tool', 'Status', 'Created', 'Finished'],
      shown.map(({ call }) => [
        `<a href="${esc(`${base}/calls/${call.id}`)}"><code>${esc(call.id)}</code></a>`,
        `<code>${esc(call.userId)}</code>`,
        esc(call.tool),
        `<span data-status="${esc(call.status)}">${esc(call.status)}</span>`,
        when(call.createdAt),
        when(call.finishedAt),
      ]),
      'No calls match.',
    );
    const next =
      rows.length > q.limit && last
        ? `<p><a href="${esc(`${base}/calls?${new URLSearchParams({ ...stringsOf(fromForm(ctx.query)), cursor: encodeCallCursor(last.createdKey, last.call.id) }).toString()}`)}">Older calls →</a></p>`
        : '';
    ctx.type = 'html';
    ctx.body = consolePage(ctx, 'calls', 'Calls', `${notice(ctx)}${filterForm(base, q)}${list}${next}`);
  });

  routes.get('/t/:tenant/admin/calls/:id', chains.operator, async (ctx) => {
    const p = callIdParam.safeParse(ctx.params);
    const scope = required(ctx, 'scope');
    const call = p.success ? await scope.toolCalls.byId(p.data.id) : undefined;
    if (!call) throw appError('call_not_found');
    const trail = await scope.audit.forCall(call.id);
    const rows = trail.map((e) => [when(e.at), esc(e.action), esc(e.decision), esc(e.reason ?? ''), `<code>${esc(e.clientId ?? '')}</code>`]);
    const t = required(ctx, 'tenant');
    ctx.type = 'html';
    ctx.body = consolePage(
      ctx,
      'calls',
      `Call ${call.id}`,
      `${notice(ctx)}${callFacts(call)}${isFinal(call) ? '' : actionButton(ctx, `${consolePath(t.slug)}/calls/${call.id}/cancel`, 'Cancel this call')}
<h2>Audit trail</h2>${table(['At', 'Action', 'Decision', 'Reason', 'Client'], rows, 'No audit rows for this call.')}`,
    );
  });

  routes.post('/t/:tenant/admin/calls/:id/cancel', chains.operator, parseForm, async (ctx) => {
    formOf(ctx, cancelForm);
    const t = required(ctx, 'tenant');
    const id = String(ctx.params['id']);
    const out = await cancelAsOperator(d.engine, {
      tenantId: t.id,
      callId: id,
      keyId: required(ctx, 'operator').keyId,
      requestId: ctx.state.requestId ?? null,
    });
    backTo(ctx, t, `calls/${id}`, out.cancelled ? 'Call cancelled.' : `The call had already ended (${out.call.status}).`);
  });
}

const stringsOf = (q: Record<string, unknown>): Record<string, string> =>
  Object.fromEntries(Object.entries(q).filter((e): e is [string, string] => typeof e[1] === 'string' && e[0] !== 'cursor'));

function filterForm(
  base: string,
  q: { user?: string | undefined; tool?: string | undefined; status?: string | undefined; since?: Date | undefined; until?: Date | undefined },
): string {
  const local = (d: Date | undefined) => (d ? d.toISOString().slice(0, 16) : '');
  const statuses = ['', ...CALL_STATUSES]
    .map((s) => `<option value="${esc(s)}"${s === (q.status ?? '') ? ' selected' : ''}>${esc(s || 'any')}</option>`)
    .join('');
  return `<form method="get" action="${esc(`${base}/calls`)}" class="row">
<label>User id<input name="user" value="${esc(q.user ?? '')}" size="36"></label>
<label>Tool<input name="tool" value="${esc(q.tool ?? '')}" size="14"></label>
<label>Status<select name="status">${statuses}</select></label>
<label>Since (UTC)<input type="datetime-local" name="since" value="${esc(local(q.since))}"></label>
<label>Until (UTC)<input type="datetime-local" name="until" value="${esc(local(q.until))}"></label>
<button type="submit">Filter</button></form>`;
}

function callFacts(call: ToolCall): string {
  const facts: [string, string][] = [
    ['Status', `<strong data-status="${esc(call.status)}">${esc(call.status)}</strong>`],
    ['Tool', esc(call.tool)],
    ['User', `<code>${esc(call.userId)}</code>`],
    ['Client', `<code>${esc(call.clientId ?? '—')}</code>`],
    ['Attempts started', esc(String(call.attempt))],
    ['Created', when(call.createdAt)],
    ['Started', when(call.startedAt)],
    ['Finished', when(call.finishedAt)],
  ];
  const rows = facts.map(([k, v]) => `<tr><th>${esc(k)}</th><td>${v}</td></tr>`).join('');
  const json = (v: unknown) => `<pre>${esc(JSON.stringify(v, null, 2))}</pre>`;
  return `<table><tbody>${rows}</tbody></table><h2>Arguments</h2>${json(call.arguments)}${
    call.error ? `<h2>Error</h2>${json(call.error)}` : call.result !== null && call.result !== undefined ? `<h2>Result</h2>${json(call.result)}` : ''
  }`;
}
