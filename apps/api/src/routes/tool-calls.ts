import { readableCall } from '@mcprt/calls';
import { appError } from '@mcprt/errors';
import type { ToolRegistry } from '@mcprt/tools';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { toolCallUrl } from '../http/urls.js';
import { toCallView } from '../calls/call-result.js';

export interface ToolCallsDeps {
  publicUrl: string;
  registry: ToolRegistry;
}

/**
 * REST polling of a call. Another user's call, and one the token may not see (the policy's call rule:
 * another app's call without `calls:read`, a tool scope not granted), answers 404, exactly like a
 * missing one (no oracle).
 */
export function mountToolCalls(routes: Routes, chains: Chains, d: ToolCallsDeps): void {
  routes.get('/t/:tenant/v1/tool-calls/:id', chains.bearer, async (ctx) => {
    const id = ctx.params.id ?? '';
    const call = await readableCall(d.registry, required(ctx, 'scope').toolCalls, required(ctx, 'user').id, required(ctx, 'token'), id);
    if (!call) throw appError('call_not_found');
    ctx.set('Cache-Control', 'no-store');
    ctx.body = toCallView(call, d.registry.get(call.tool), toolCallUrl(d.publicUrl, required(ctx, 'tenant').slug, call.id));
  });
}
