import type postgres from 'postgres';
import type { ToolCall, ToolCallError } from '../schema.js';
import { bellFromUpd } from './bell.js';
import { toCall, type Row } from './row.js';

export interface ProvideInputStatement {
  id: string;
  /** The sealed answers this update read (compare-and-set: a concurrent update of the same call wins once). */
  previous: string | null;
  /** Every answer so far, sealed to the call. */
  sealedInput: string;
  /** Every input request answered: the call moves to `queued` (the caller enqueues it). */
  complete: boolean;
  /** The keys answered by this update (never the answers), for the audit row. */
  reason: string;
  requestId: string | null;
}

/**
 * Answers to a task waiting for input (`awaiting_input`), in one statement fenced on the status and
 * on the sealed answers the caller read: the answers so far replace the sealed bundle; with the last
 * one the call moves to `queued`. Audit `tool_call.input_received` (allow when complete, else info),
 * reason = the keys answered. Undefined: the call is no longer waiting, or another update came first.
 */
export async function provideInput(sql: postgres.Sql, tenantId: string, p: ProvideInputStatement): Promise<ToolCall | undefined> {
  const rows = await sql`
    with upd as (
      update tool_calls set sealed_input = ${p.sealedInput},
        status = (case when ${p.complete} then 'queued' else 'awaiting_input' end)::tool_call_status
      where tenant_id = ${tenantId} and id = ${p.id} and status = 'awaiting_input' and sealed_input is not distinct from ${p.previous}
      returning *
    ), audit as (
      insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
      select tenant_id, user_id, client_id, id, tool, 'tool_call.input_received', case when ${p.complete} then 'allow' else 'info' end,
        ${p.reason}, ${p.requestId} from upd
    )
    select * from upd`;
  const row = rows[0] as Row | undefined;
  return row ? toCall(row) : undefined;
}

const EXPIRED: ToolCallError = { code: 'input_expired', message: 'Nobody answered what this tool call asked in time; it did not run.' };

/**
 * Fail the tasks whose wait for their client's answers passed its deadline (any tenant: the worker's
 * sweep, beside the approvals'), at most `limit` per statement: `failed` with `input_expired`, audit
 * `tool_call.input_expired` (deny), the bell rung. Returns how many expired.
 */
export async function expireInputs(sql: postgres.Sql, limit: number): Promise<number> {
  const rows = await sql`
    with due as (
      select tenant_id, id from tool_calls
      where input_expires_at is not null and finished_at is null and input_expires_at <= now() and status = 'awaiting_input'
      order by input_expires_at limit ${limit} for update skip locked
    ), upd as (
      update tool_calls t set status = 'failed', error = ${JSON.stringify(EXPIRED)}::jsonb, finished_at = now()
      from due where t.tenant_id = due.tenant_id and t.id = due.id and t.status = 'awaiting_input'
      returning t.*
    ), audit as (
      insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
      select tenant_id, user_id, client_id, id, tool, 'tool_call.input_expired', 'deny', 'input_expired', request_id from upd
    ), bell as (${bellFromUpd(sql)})
    select count(*)::int as n from bell`;
  return (rows[0] as { n: number }).n;
}
