import type postgres from 'postgres';
import type { ToolCall, ToolCallError } from '../schema.js';
import { bellFromUpd } from './bell.js';
import type { FinishInput } from './settle.js';
import { open, pending, toCall, type Row } from './row.js';

/** Audit action of a run's final write that the fence rejected (see `noteStaleWrite`). */
export const STALE_RESULT_DISCARDED = 'tool_call.stale_result_discarded';

/**
 * Fail a call that never reached a final write (its job was lost to repeated stalls, or ended, or
 * was refused). Fenced: only while pending. Audit: `tool_call.failed` (deny, reason = the error
 * code); rings the bell. True when it failed the call now.
 */
export async function failIfNotFinal(sql: postgres.Sql, tenantId: string, id: string, error: ToolCallError): Promise<boolean> {
  const rows = await sql`
    with upd as (
      update tool_calls set status = 'failed', error = ${JSON.stringify(error)}::jsonb, finished_at = now()
      where tenant_id = ${tenantId} and id = ${id} and ${pending(sql)}
      returning tenant_id, id, user_id, client_id, tool, request_id, status, result, error, attempt, started_at, finished_at
    ), audit as (
      insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
      select ${tenantId}, user_id, client_id, id, tool, 'tool_call.failed', 'deny', ${error.code}, request_id from upd
    ), bell as (${bellFromUpd(sql)})
    select count(*)::int as n from bell`;
  return (rows[0] as { n: number }).n === 1;
}

export interface CancelStatementInput {
  id: string;
  /** Set: only this user's call (an end user's cancel); another user's call answers `not_found`. */
  userId?: string | undefined;
  /** Who cancelled (`cancelled_by:user:<id>`, `cancelled_by:api_key:<id>`, …), for the audit row. */
  reason: string;
  requestId: string | null;
  error: ToolCallError;
}

export type CancelStatementOutcome = { outcome: 'cancelled'; call: ToolCall } | { outcome: 'final'; call: ToolCall } | { outcome: 'not_found' };

/**
 * Cancel: status `cancelled` in one statement, fenced like every final write: it applies only while
 * the call is not final (pending, or awaiting approval), so a result written first wins and a result written after is dropped by
 * `settle`'s own fence (the call stays cancelled). Audit: `tool_call.cancelled` (info, reason = who
 * cancelled); rings the bell. A call already final answers `final` with the row, unchanged.
 */
export async function cancel(sql: postgres.Sql, tenantId: string, c: CancelStatementInput): Promise<CancelStatementOutcome> {
  const owner = c.userId ?? null;
  const rows = await sql`
    with cur as (
      select * from tool_calls where tenant_id = ${tenantId} and id = ${c.id} and (${owner}::uuid is null or user_id = ${owner}::uuid)
    ), upd as (
      update tool_calls t set status = 'cancelled', error = ${JSON.stringify(c.error)}::jsonb, finished_at = now()
      from cur where t.tenant_id = ${tenantId} and t.id = cur.id and ${open(sql, 't.status')}
      returning t.*
    ), audit as (
      insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
      select tenant_id, user_id, client_id, id, tool, 'tool_call.cancelled', 'info', ${c.reason}, ${c.requestId} from upd
    ), bell as (${bellFromUpd(sql)})
    select true as _won, upd.* from upd, (select count(*) from bell) b
    union all
    select false as _won, cur.* from cur where not exists (select 1 from upd)`;
  const row = rows[0] as Row | undefined;
  if (!row) return { outcome: 'not_found' };
  return { outcome: row._won ? 'cancelled' : 'final', call: toCall(row) };
}

/**
 * Note a stale write: a final write the fence rejected (the call was already final, or a newer
 * attempt owns the row). Audit: one row `tool_call.stale_result_discarded`, decision `info`, whose
 * reason names both runs — `stale_attempt=<ours> discarded=<our outcome> row_attempt=<the owner's>
 * row_status=<its status>` — read from the row in the same statement. Called only after `finish`
 * returned false, so the normal path pays nothing; audit_events stays append-only (an INSERT).
 */
export async function noteStaleWrite(
  sql: postgres.Sql,
  tenantId: string,
  f: Pick<FinishInput, 'id' | 'attempt' | 'audit'> & { discarded: string },
): Promise<void> {
  await sql`
    insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
    select tenant_id, ${f.audit.userId}, ${f.audit.clientId}, id, ${f.audit.tool}, ${STALE_RESULT_DISCARDED}, 'info',
      ${`stale_attempt=${f.attempt} discarded=${f.discarded} `} || 'row_attempt=' || attempt || ' row_status=' || status, ${f.audit.requestId}
    from tool_calls where tenant_id = ${tenantId} and id = ${f.id}`;
}

/**
 * Requeue: a `running` call whose job no longer exists (Redis lost it) back to `queued` with
 * fencing token 0, so the job the reconciler adds again (its attempt count restarts at 1) may write
 * it. Compare-and-set on the token seen: a worker that wrote meanwhile wins and the call is left
 * alone. No audit row (the call's outcome is audited when it settles).
 */
export async function requeue(sql: postgres.Sql, tenantId: string, id: string, seenAttempt: number): Promise<boolean> {
  const rows = await sql`
    update tool_calls set status = 'queued', attempt = 0
    where tenant_id = ${tenantId} and id = ${id} and status = 'running' and attempt = ${seenAttempt}
    returning id`;
  return rows.length === 1;
}
