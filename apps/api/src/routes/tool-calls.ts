import type Router from '@koa/router';
import { readableCall } from '@mcprt/calls';
import { AppError } from '@mcprt/errors';
import { bearerAuth } from '../http/bearer-auth.js';
import { resolveTenant } from '../http/resolve-tenant.js';
import { required, type ApiState } from '../http/state.js';
import { toolCallUrl } from '../http/urls.js';
import { toCallView } from '../calls/call-result.js';
import type { ApiResources } from '../resources.js';

/**
 * REST polling of a call. Another user's call, and one the token may not see (the policy's call rule:
 * another app's call without `calls:read`, a tool scope not granted), answers 404, exactly like a
 * missing one (no oracle).
 */
export function mountToolCalls(router: Router<ApiState>, r: ApiResources): void {
  router.get(
    '/t/:tenant/v1/tool-calls/:id',
    resolveTenant(r.tenants, r.db.db),
    bearerAuth({ publicUrl: r.config.PUBLIC_URL, directory: r.directory, users: r.users, verified: r.verified, authServers: r.authServers }),
    async (ctx) => {
      const id = ctx.params.id ?? '';
      const call = await readableCall(r.registry, required(ctx, 'scope').toolCalls, required(ctx, 'user').id, required(ctx, 'token'), id);
      if (!call) throw new AppError('not_found', 'call_not_found', 'no such tool call');
      ctx.set('Cache-Control', 'no-store');
      ctx.body = toCallView(call, r.registry.get(call.tool), toolCallUrl(r.config.PUBLIC_URL, required(ctx, 'tenant').slug, call.id));
    },
  );
}
