import { Readable } from 'node:stream';
import { auditTrail } from '@mcprt/audit';
import { callHistory, type CancelDeps } from '@mcprt/calls';
import type { DbHandle } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import type { ToolRegistry } from '@mcprt/tools';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { toolCallUrl } from '../http/urls.js';
import { toCallView } from '../calls/call-result.js';
import { cancelAsOperator } from '../calls/operator-cancel.js';
import { auditExportLines } from '../history/audit-export.js';
import { decodeAuditCursor, decodeCallCursor, invalidCursor } from '../history/cursor.js';
import { adminAuditQuery, adminCallsQuery, callIdParam, parseQuery } from '../history/schemas.js';
import { auditPageBody, callPageBody } from '../history/views.js';
import { callFinal } from './tool-call-cancel.js';

const NDJSON = 'application/x-ndjson';

export interface AdminDeps {
  sql: DbHandle['sql'];
  publicUrl: string;
  registry: ToolRegistry;
  /** What the call engine's cancel needs. */
  engine: CancelDeps;
}

/**
 * The tenant back office, under /t/:tenant/v1/admin, with a tenant API key (http/api-key-auth.ts):
 * every user's calls and audit rows, one call, the NDJSON audit export, and cancelling any call.
 */
export function mountAdmin(routes: Routes, chains: Chains, d: AdminDeps): void {
  const view = (call: Parameters<typeof toCallView>[0], slug: string) => ({
    userId: call.userId,
    ...toCallView(call, d.registry.get(call.tool), toolCallUrl(d.publicUrl, slug, call.id)),
  });

  routes.get('/t/:tenant/v1/admin/tool-calls', chains.apiKey('calls:read', 'list_calls'), async (ctx) => {
    const q = parseQuery(adminCallsQuery, ctx.query);
    const t = required(ctx, 'tenant');
    const rows = await callHistory(d.sql, t.id).page(
      { userId: q.user, status: q.status, tool: q.tool, since: q.since, until: q.until },
      q.cursor ? decodeCallCursor(q.cursor) : null,
      q.limit + 1,
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = callPageBody(rows, q.limit, { publicUrl: d.publicUrl, slug: t.slug, registry: d.registry, withUser: true });
  });

  routes.get('/t/:tenant/v1/admin/tool-calls/:id', chains.apiKey('calls:read', 'get_call'), async (ctx) => {
    const p = callIdParam.safeParse(ctx.params);
    const call = p.success ? await required(ctx, 'scope').toolCalls.byId(p.data.id) : undefined;
    if (!call) throw appError('call_not_found');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = view(call, required(ctx, 'tenant').slug);
  });

  // Cancel any call of the tenant (scope calls:cancel): the same cancelCall as the user's own cancel,
  // audited as `cancelled_by:api_key:<key id>`. 200 with the call; 409 call_final if it had finished.
  routes.post('/t/:tenant/v1/admin/tool-calls/:id/cancel', chains.apiKey('calls:cancel', 'cancel_call'), async (ctx) => {
    const t = required(ctx, 'tenant');
    const id = String(ctx.params['id']);
    const out = await cancelAsOperator(d.engine, { tenantId: t.id, callId: id, keyId: required(ctx, 'apiKey').id, requestId: ctx.state.requestId ?? null });
    const answer = view(out.call, t.slug);
    ctx.set('Cache-Control', 'no-store');
    if (!out.cancelled) throw callFinal(answer);
    ctx.body = answer;
  });

  routes.get('/t/:tenant/v1/admin/audit-events', chains.apiKey('audit:read', 'read_audit'), async (ctx) => {
    const q = parseQuery(adminAuditQuery, ctx.query);
    const t = required(ctx, 'tenant');
    const filter = { userId: q.user, tool: q.tool, action: q.action, decision: q.decision, since: q.since, until: q.until };
    ctx.set('Cache-Control', 'no-store');
    if (ctx.accepts('application/json', NDJSON) === NDJSON && ctx.get('accept').includes(NDJSON)) {
      if (q.cursor) throw invalidCursor('an NDJSON export is not paged; give since/until instead');
      ctx.type = NDJSON;
      ctx.set('Content-Disposition', `attachment; filename="audit-${t.slug}.ndjson"`);
      // Pulled line by line as the socket drains (Readable.from respects backpressure).
      ctx.body = Readable.from(auditExportLines(d.sql, t.id, filter), { objectMode: false, highWaterMark: 64 * 1024 });
      return;
    }
    const rows = await auditTrail(d.sql, t.id).page(filter, q.cursor ? decodeAuditCursor(q.cursor) : null, q.limit + 1);
    ctx.body = auditPageBody(rows, q.limit);
  });
}
