import type Router from '@koa/router';
import { auditTrail } from '@mcprt/audit';
import { callHistory, visibleCalls } from '@mcprt/calls';
import { decideAuditRead } from '@mcprt/policy';
import { bearerAuth, insufficientScope } from '../http/bearer-auth.js';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import { decodeAuditCursor, decodeCallCursor } from '../history/cursor.js';
import { parseQuery, userAuditQuery, userCallsQuery } from '../history/schemas.js';
import { auditPageBody, callPageBody } from '../history/views.js';
import type { ApiResources } from '../resources.js';

/**
 * End-user history (issue 11 item 4): the same bearer check as the MCP endpoint, and only the
 * signed-in user's own rows — the user id comes from the verified token, never from the query.
 * Within them, the policy's call rule (`callListFilter`, packages/policy): the calls this token's
 * OAuth client made with tools whose scope it carries, or all of them with `calls:read`; filtered in
 * the statement, so pages and cursors count only what the token may see. The audit history needs
 * `audit:read` (`decideAuditRead`), else 403 `insufficient_scope` naming it.
 * (GET …/tool-calls/:id is in tool-calls.ts.)
 */
export function mountHistory(router: Router<ApiState>, r: ApiResources): void {
  const auth = [
    resolveTenant(r.tenants, r.db.db),
    bearerAuth({ publicUrl: r.config.PUBLIC_URL, directory: r.directory, users: r.users, verified: r.verified, authServers: r.authServers }),
  ];

  router.get('/t/:tenant/v1/tool-calls', ...auth, async (ctx) => {
    const q = parseQuery(userCallsQuery, ctx.query);
    const tenant = required(ctx, 'tenant');
    const visible = visibleCalls(r.registry, required(ctx, 'token'));
    const rows = await callHistory(r.db.sql, tenant.id).page(
      { userId: required(ctx, 'user').id, status: q.status, tool: q.tool, since: q.since, until: q.until, madeBy: visible.all ? undefined : visible },
      q.cursor ? decodeCallCursor(q.cursor) : null,
      q.limit + 1,
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = callPageBody(rows, q.limit, { publicUrl: r.config.PUBLIC_URL, slug: tenant.slug, registry: r.registry, withUser: false });
  });

  router.get('/t/:tenant/v1/audit-events', ...auth, async (ctx) => {
    const q = parseQuery(userAuditQuery, ctx.query);
    const token = required(ctx, 'token');
    const decision = decideAuditRead(token);
    if (!decision.allow) throw insufficientScope(r.config.PUBLIC_URL, required(ctx, 'tenant').slug, token.scopes, [decision.requiredScope]);
    const rows = await auditTrail(r.db.sql, required(ctx, 'tenant').id).page(
      { userId: required(ctx, 'user').id, tool: q.tool, action: q.action, decision: q.decision, since: q.since, until: q.until },
      q.cursor ? decodeAuditCursor(q.cursor) : null,
      q.limit + 1,
    );
    ctx.set('Cache-Control', 'no-store');
    ctx.body = auditPageBody(rows, q.limit);
  });
}
