import { Readable } from 'node:stream';
import type Router from '@koa/router';
import { auditTrail } from '@mcprt/audit';
import { callHistory, cancelCall } from '@mcprt/calls';
import { AppError } from '@mcprt/errors';
import { apiKeyAuth } from '../http/api-key-auth.js';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import { toolCallUrl } from '../http/urls.js';
import { toCallView } from '../calls/call-result.js';
import { auditExportLines } from '../history/audit-export.js';
import { decodeAuditCursor, decodeCallCursor, invalidCursor } from '../history/cursor.js';
import { adminAuditQuery, adminCallsQuery, callIdParam, parseQuery } from '../history/schemas.js';
import { auditPageBody, callPageBody } from '../history/views.js';
import type { ApiResources } from '../resources.js';

export const NDJSON = 'application/x-ndjson';

/**
 * The tenant back office (issue 11 item 5), under /t/:tenant/v1/admin, with a tenant API key
 * (http/api-key-auth.ts): every user's calls and audit rows, one call, and the NDJSON audit export.
 * Cancelling a call (`calls:cancel`) is wired to the call-cancellation function of items 1-3.
 */
export function mountAdmin(router: Router<ApiState>, r: ApiResources): void {
  const tenant = resolveTenant(r.tenants, r.db.db);

  router.get('/t/:tenant/v1/admin/tool-calls', tenant, apiKeyAuth(r.db, 'calls:read', 'list_calls'), async (ctx) => {
    const q = parseQuery(adminCallsQuery, ctx.query);
    const t = required(ctx, 'tenant');
    const rows = await callHistory(r.db.sql, t.id).page(
      { userId: q.user, status: q.status, tool: q.tool, since: q.since, until: q.until },
      q.cursor ? decodeCallCursor(q.cursor) : null,
      q.limit + 1,
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = callPageBody(rows, q.limit, { publicUrl: r.config.PUBLIC_URL, slug: t.slug, registry: r.registry, withUser: true });
  });

  router.get('/t/:tenant/v1/admin/tool-calls/:id', tenant, apiKeyAuth(r.db, 'calls:read', 'get_call'), async (ctx) => {
    const p = callIdParam.safeParse(ctx.params);
    const call = p.success ? await required(ctx, 'scope').toolCalls.byId(p.data.id) : undefined;
    if (!call) throw new AppError('not_found', 'call_not_found', 'no such tool call');
    const t = required(ctx, 'tenant');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = { userId: call.userId, ...toCallView(call, r.registry.get(call.tool), toolCallUrl(r.config.PUBLIC_URL, t.slug, call.id)) };
  });

  // Cancel any call of the tenant (scope calls:cancel): the same cancelCall as the user's own cancel,
  // audited as `cancelled_by:api_key:<key id>`. 200 with the call; 409 call_final if it had finished.
  router.post('/t/:tenant/v1/admin/tool-calls/:id/cancel', tenant, apiKeyAuth(r.db, 'calls:cancel', 'cancel_call'), async (ctx) => {
    const p = callIdParam.safeParse(ctx.params);
    const t = required(ctx, 'tenant');
    const out = p.success
      ? await cancelCall(r, {
          tenantId: t.id,
          callId: p.data.id,
          actor: { kind: 'api_key', id: required(ctx, 'apiKey').id },
          requestId: ctx.state.requestId ?? null,
        })
      : ({ outcome: 'not_found' } as const);
    if (out.outcome === 'not_found') throw new AppError('not_found', 'call_not_found', 'no such tool call');
    const view = { userId: out.call.userId, ...toCallView(out.call, r.registry.get(out.call.tool), toolCallUrl(r.config.PUBLIC_URL, t.slug, out.call.id)) };
    ctx.set('Cache-Control', 'no-store');
    if (out.outcome === 'final') {
      ctx.status = 409;
      ctx.body = { error: { code: 'call_final', message: `the call has already ${out.call.status}` }, call: view };
      return;
    }
    ctx.body = view;
  });

  router.get('/t/:tenant/v1/admin/audit-events', tenant, apiKeyAuth(r.db, 'audit:read', 'read_audit'), async (ctx) => {
    const q = parseQuery(adminAuditQuery, ctx.query);
    const t = required(ctx, 'tenant');
    const filter = { userId: q.user, tool: q.tool, action: q.action, decision: q.decision, since: q.since, until: q.until };
    ctx.set('Cache-Control', 'no-store');
    if (ctx.accepts('application/json', NDJSON) === NDJSON && ctx.get('accept').includes(NDJSON)) {
      if (q.cursor) throw invalidCursor('an NDJSON export is not paged; give since/until instead');
      ctx.type = NDJSON;
      ctx.set('Content-Disposition', `attachment; filename="audit-${t.slug}.ndjson"`);
      // Pulled line by line as the socket drains (Readable.from respects backpressure).
      ctx.body = Readable.from(auditExportLines(r.db.sql, t.id, filter), { objectMode: false, highWaterMark: 64 * 1024 });
      return;
    }
    const rows = await auditTrail(r.db.sql, t.id).page(filter, q.cursor ? decodeAuditCursor(q.cursor) : null, q.limit + 1);
    ctx.body = auditPageBody(rows, q.limit);
  });
}
