import { appError } from '@mcprt/errors';
import type { ToolRegistry } from '@mcprt/tools';
import { z } from 'zod';
import { bodyParser } from '@koa/bodyparser';
import { required } from '../http/state.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { toolCallUrl } from '../http/urls.js';
import { toCallView } from '../calls/call-result.js';
import { decideAsTenantApprover } from '../calls/operator-approval.js';
import type { Handler } from '../http/tenant-router.js';

export interface ApprovalApiDeps {
  publicUrl: string;
  registry: ToolRegistry;
  engine: Parameters<typeof decideAsTenantApprover>[0];
}

/** What a tenant approver sends: the decision, and the hash of the arguments it was shown (the call view's `approval.argsHash`). */
export const approvalDecisionBody = z.strictObject({
  decision: z.enum(['approve', 'deny']),
  argsHash: z.string().min(1).max(200),
});

/**
 * The tenant approvers' API: `POST /t/:tenant/v1/admin/tool-calls/:id/approval` with a tenant API
 * key holding `calls:approve`. It decides only calls a `tenant` rule holds (a user's own approval is
 * theirs alone), only for the arguments whose hash it sends (409 `approval_changed` otherwise),
 * before the deadline (409 `approval_expired`); audited with the key id. Listing the waiting calls is
 * `GET …/v1/admin/tool-calls?status=awaiting_approval` (scope `calls:read`).
 */
export function mountApprovalApi(routes: Routes, chains: Chains, d: ApprovalApiDeps): void {
  const json = bodyParser({ enableTypes: ['json'], jsonLimit: '4kb' }) as unknown as Handler;
  routes.post('/t/:tenant/v1/admin/tool-calls/:id/approval', chains.apiKey('calls:approve', 'decide_approval'), json, async (ctx) => {
    const body = approvalDecisionBody.safeParse(ctx.request.body);
    if (!body.success) throw appError('invalid_request', 'send {"decision": "approve" | "deny", "argsHash": "<the call view\'s approval.argsHash>"}');
    const t = required(ctx, 'tenant');
    const out = await decideAsTenantApprover(d.engine, {
      tenantId: t.id,
      callId: String(ctx.params['id']),
      approve: body.data.decision === 'approve',
      argsHash: body.data.argsHash,
      keyId: required(ctx, 'apiKey').id,
      requestId: ctx.state.requestId ?? null,
    });
    ctx.set('Cache-Control', 'no-store');
    ctx.body = toCallView(out.call, d.registry.get(out.call.tool), toolCallUrl(d.publicUrl, t.slug, out.call.id));
  });
}
