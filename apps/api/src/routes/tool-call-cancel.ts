import { cancelUserCall } from '@mcprt/calls';
import { appError, type AppError } from '@mcprt/errors';
import type { ToolRegistry } from '@mcprt/tools';
import { insufficientScope } from '../http/bearer-auth.js';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { toolCallUrl } from '../http/urls.js';
import { toCallView } from '../calls/call-result.js';

export interface ToolCallCancelDeps {
  publicUrl: string;
  registry: ToolRegistry;
  /** What the call engine's cancel needs. */
  engine: Parameters<typeof cancelUserCall>[0];
}

/** 409 `call_final`: the call had already finished; the answer carries the call as it ended. */
export function callFinal(view: { status: string }): AppError {
  return appError('call_final', `the call has already ${view.status}`, { details: { attached: { call: view } } });
}

/**
 * `POST /t/:tenant/v1/tool-calls/:id/cancel`: the end user cancels one of their own calls, with the
 * same bearer check as the MCP endpoint. 200 with the call (now `cancelled`); 409 `call_final` with
 * the call when it had already finished; anyone else's call, and a call the policy's call rule keeps
 * from this token (another app's, a tool scope not granted), answers 404, exactly like a missing one
 * (no oracle); another app's call the token may see (`calls:read`) but not stop answers 403
 * `insufficient_scope` naming `calls:cancel`. The work is `cancelUserCall` (@mcprt/calls).
 */
export function mountToolCallCancel(routes: Routes, chains: Chains, d: ToolCallCancelDeps): void {
  routes.post('/t/:tenant/v1/tool-calls/:id/cancel', chains.bearerWrite, async (ctx) => {
    const tenant = required(ctx, 'tenant');
    const who = { tenant, user: required(ctx, 'user'), token: required(ctx, 'token'), requestId: ctx.state.requestId };
    const out = await cancelUserCall(d.engine, who, ctx.params.id ?? '');
    if (out.outcome === 'not_found') throw appError('call_not_found');
    if (out.outcome === 'forbidden') throw insufficientScope(d.publicUrl, tenant.slug, required(ctx, 'token').scopes, [out.requiredScope]);
    const view = toCallView(out.call, d.registry.get(out.call.tool), toolCallUrl(d.publicUrl, tenant.slug, out.call.id));
    ctx.set('Cache-Control', 'no-store');
    if (out.outcome === 'final') throw callFinal(view);
    ctx.body = view;
  });
}
