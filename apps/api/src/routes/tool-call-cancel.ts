import type Router from '@koa/router';
import { cancelUserCall } from '@mcprt/calls';
import { AppError } from '@mcprt/errors';
import { bearerAuth, insufficientScope } from '../http/bearer-auth.js';
import { originCheck } from '../http/origin-check.js';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import { toolCallUrl } from '../http/urls.js';
import { toCallView } from '../calls/call-result.js';
import type { ApiResources } from '../resources.js';

/**
 * `POST /t/:tenant/v1/tool-calls/:id/cancel`: the end user cancels one of their own calls,
 * with the same bearer check as the MCP endpoint. 200 with the call (now `cancelled`); 409
 * `call_final` with the call when it had already finished; anyone else's call, and a call the
 * policy's call rule keeps from this token (another app's, a tool scope not granted), answers 404,
 * exactly like a missing one (no oracle); another app's call the token may see (`calls:read`) but
 * not stop answers 403 `insufficient_scope` naming `calls:cancel`. The work is `cancelUserCall`
 * (@mcprt/calls).
 */
export function mountToolCallCancel(router: Router<ApiState>, r: ApiResources): void {
  router.post(
    '/t/:tenant/v1/tool-calls/:id/cancel',
    originCheck(r.config.PUBLIC_URL, r.config.ALLOWED_ORIGINS),
    resolveTenant(r.tenants, r.db.db),
    bearerAuth({ publicUrl: r.config.PUBLIC_URL, directory: r.directory, users: r.users, verified: r.verified, authServers: r.authServers }),
    async (ctx) => {
      const tenant = required(ctx, 'tenant');
      const who = { tenant, user: required(ctx, 'user'), token: required(ctx, 'token'), requestId: ctx.state.requestId };
      const out = await cancelUserCall(r, who, ctx.params.id ?? '');
      if (out.outcome === 'not_found') throw new AppError('not_found', 'call_not_found', 'no such tool call');
      if (out.outcome === 'forbidden') throw insufficientScope(r.config.PUBLIC_URL, tenant.slug, required(ctx, 'token').scopes, [out.requiredScope]);
      const view = toCallView(out.call, r.registry.get(out.call.tool), toolCallUrl(r.config.PUBLIC_URL, tenant.slug, out.call.id));
      ctx.set('Cache-Control', 'no-store');
      if (out.outcome === 'final') {
        ctx.status = 409;
        ctx.body = { error: { code: 'call_final', message: `the call has already ${out.call.status}` }, call: view };
        return;
      }
      ctx.body = view;
    },
  );
}
