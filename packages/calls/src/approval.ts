import type { CallStatements } from './call-statements.js';
import { isCallId } from './call-id.js';
import { enqueueCall, type EnqueueDeps } from './enqueue.js';
import type { ApprovalDecisionOutcome } from './statements/approve.js';

/** Who decides: the call's own user (a `user` rule), or a tenant approver (a `tenant` rule: a tenant API key with `calls:approve`). */
export type ApprovalActor = { kind: 'user'; userId: string } | { kind: 'api_key'; id: string };

export interface DecideCallApprovalInput {
  tenantId: string;
  callId: string;
  approve: boolean;
  /** The hash of the arguments the approver was shown (the call's `argsHash` as the page or API gave it). */
  argsHash: string;
  actor: ApprovalActor;
  requestId: string | null;
}

export interface ApprovalDeps extends EnqueueDeps {
  db: EnqueueDeps['db'] & { calls: Pick<CallStatements, 'decideApproval'> };
}

/**
 * Approve or deny a call awaiting approval, for every path that can (the approval page, the tenant
 * approvers' API, a `decline` in a task's input response): one fenced statement decides it, with
 * its audit row naming the approver; an approved call is then enqueued like any accepted call (if
 * Redis is away, the reconciler enqueues it: it is `queued`). A denied or expired call never reaches
 * the queue. A user decides only their own `user`-rule calls; an API key only `tenant`-rule calls.
 */
export async function decideCallApproval(r: ApprovalDeps, d: DecideCallApprovalInput): Promise<ApprovalDecisionOutcome & { enqueued?: boolean }> {
  if (!isCallId(d.callId)) return { outcome: 'not_found' };
  const out = await r.db.calls.decideApproval(d.tenantId, {
    id: d.callId,
    approve: d.approve,
    argsHash: d.argsHash,
    approver: d.actor.kind === 'user' ? 'user' : 'tenant',
    userId: d.actor.kind === 'user' ? d.actor.userId : undefined,
    by: d.actor.kind === 'user' ? `user:${d.actor.userId}` : `api_key:${d.actor.id}`,
    requestId: d.requestId,
  });
  if (out.outcome !== 'approved') return out;
  try {
    await enqueueCall(r, out.call);
    return { ...out, enqueued: true };
  } catch {
    // Recorded `queued`: the reconciler enqueues it once Redis answers.
    return { ...out, enqueued: false };
  }
}
