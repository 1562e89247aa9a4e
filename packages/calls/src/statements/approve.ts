import type postgres from 'postgres';
import type { ToolCall, ToolCallError } from '../schema.js';
import { bellFromUpd } from './bell.js';
import { toCall, type Row } from './row.js';

export interface ApprovalDecisionInput {
  id: string;
  approve: boolean;
  /** The keyed hash of (tool, arguments) the approver was shown: the decision holds only for those exact arguments. */
  argsHash: string;
  /** Who may decide this call: a `user` rule's call only by its user (`userId`), a `tenant` rule's only by a tenant approver. */
  approver: 'user' | 'tenant';
  userId?: string | undefined;
  /** Who decided, for the audit row (`user:<id>`, `api_key:<id>`). */
  by: string;
  requestId: string | null;
}

export type ApprovalDecisionOutcome =
  | { outcome: 'approved'; call: ToolCall }
  | { outcome: 'denied'; call: ToolCall }
  /** Past its deadline (the sweep fails it, if it has not already). */
  | { outcome: 'expired'; call: ToolCall }
  /** The arguments shown are not the call's: nothing decided. */
  | { outcome: 'changed'; call: ToolCall }
  /** No call awaiting this approver's decision (unknown, another user's or tenant's, decided already, or not this approver's). */
  | { outcome: 'not_found' };

const DENIED: ToolCallError = { code: 'approval_denied', message: 'The approver denied this tool call; it did not run.' };

/**
 * Approve or deny a call awaiting approval, in one statement: fenced on the status, the approver
 * kind (and the user, for a user's own approval), the deadline and the hash of the arguments shown,
 * so a decision on anything else changes nothing. Approved: `queued` (the caller then enqueues it;
 * if that fails the reconciler does). Denied: `failed` with `approval_denied`, the bell rung, never
 * enqueued. Audit: `tool_call.approved` (allow) or `tool_call.denied` (deny), reason = who decided.
 */
export async function decideApproval(sql: postgres.Sql, tenantId: string, d: ApprovalDecisionInput): Promise<ApprovalDecisionOutcome> {
  const owner = d.userId ?? null;
  const rows = await sql`
    with cur as (
      select * from tool_calls where tenant_id = ${tenantId} and id = ${d.id} and status = 'awaiting_approval'
        and approver = ${d.approver} and (${owner}::uuid is null or user_id = ${owner}::uuid)
    ), upd as (
      update tool_calls t set
        status = (case when ${d.approve} then 'queued' else 'failed' end)::tool_call_status,
        error = case when ${d.approve} then null else ${JSON.stringify(DENIED)}::jsonb end,
        finished_at = case when ${d.approve} then null else now() end
      from cur where t.tenant_id = ${tenantId} and t.id = cur.id and t.status = 'awaiting_approval'
        and t.approval_expires_at > now() and t.args_hash = ${d.argsHash}
      returning t.*
    ), audit as (
      insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
      select tenant_id, user_id, client_id, id, tool, case when ${d.approve} then 'tool_call.approved' else 'tool_call.denied' end,
        case when ${d.approve} then 'allow' else 'deny' end, ${d.by}, ${d.requestId} from upd
    ), bell as (${bellFromUpd(sql)} where not ${d.approve})
    select 'done' as _k, upd.* from upd, (select count(*) from bell) b
    union all
    select case when cur.args_hash is distinct from ${d.argsHash} then 'changed' when cur.approval_expires_at <= now() then 'expired' else 'decided' end as _k,
      cur.* from cur where not exists (select 1 from upd)`;
  const row = rows[0] as Row | undefined;
  // 'decided': another decision on the same call committed first (this one saw it waiting, then found it decided).
  if (!row || row._k === 'decided') return { outcome: 'not_found' };
  const call = toCall(row);
  if (row._k === 'done') return { outcome: d.approve ? 'approved' : 'denied', call };
  return { outcome: row._k as 'expired' | 'changed', call };
}
