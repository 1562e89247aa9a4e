import type postgres from 'postgres';
import type { ToolCall } from '../schema.js';
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
