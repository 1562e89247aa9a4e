import { auditTrail } from '@mcprt/audit';
import { callHistory, visibleCalls } from '@mcprt/calls';
import type { DbHandle } from '@mcprt/db';
import { decideAuditRead } from '@mcprt/policy';
import type { ToolRegistry } from '@mcprt/tools';
import { insufficientScope } from '../http/bearer-auth.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { decodeAuditCursor, decodeCallCursor } from '../history/cursor.js';
import { parseQuery, userAuditQuery, userCallsQuery } from '../history/schemas.js';
import { auditPageBody, callPageBody } from '../history/views.js';

export interface HistoryDeps {
  sql: DbHandle['sql'];
  publicUrl: string;
  registry: ToolRegistry;
}

/**
 * End-user history: the same bearer check as the MCP endpoint, and only the signed-in user's own
 * rows — the user id comes from the verified token, never from the query. Within them, the policy's
 * call rule (`callListFilter`, packages/policy): the calls this token's OAuth client made with tools
 * whose scope it carries, or all of them with `calls:read`; filtered in the statement, so pages and
 * cursors count only what the token may see. The audit history needs `audit:read`
 * (`decideAuditRead`), else 403 `insufficient_scope` naming it. (GET …/tool-calls/:id is in tool-calls.ts.)
 */
export function mountHistory(routes: Routes, chains: Chains, d: HistoryDeps): void {
  routes.get('/t/:tenant/v1/tool-calls', chains.bearer, async (ctx) => {
    const q = parseQuery(userCallsQuery, ctx.query);
    const tenant = required(ctx, 'tenant');
    const visible = visibleCalls(d.registry, required(ctx, 'token'));
    const rows = await callHistory(d.sql, tenant.id).page(
      { userId: required(ctx, 'user').id, status: q.status, tool: q.tool, since: q.since, until: q.until, madeBy: visible.all ? undefined : visible },
      q.cursor ? decodeCallCursor(q.cursor) : null,
      q.limit + 1,
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = callPageBody(rows, q.limit, { publicUrl: d.publicUrl, slug: tenant.slug, registry: d.registry, withUser: false });
  });

  routes.get('/t/:tenant/v1/audit-events', chains.bearer, async (ctx) => {
    const q = parseQuery(userAuditQuery, ctx.query);
    const token = required(ctx, 'token');
    const decision = decideAuditRead(token);
    if (!decision.allow) throw insufficientScope(d.publicUrl, required(ctx, 'tenant').slug, token.scopes, [decision.requiredScope]);
    const rows = await auditTrail(d.sql, required(ctx, 'tenant').id).page(
      { userId: required(ctx, 'user').id, tool: q.tool, action: q.action, decision: q.decision, since: q.since, until: q.until },
      q.cursor ? decodeAuditCursor(q.cursor) : null,
      q.limit + 1,
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = auditPageBody(rows, q.limit);
  });
}
