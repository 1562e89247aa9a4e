import type postgres from 'postgres';
import type { CallStatus } from '../call-states.js';
import type { ToolCallError } from '../schema.js';
import { bellFromUpd } from './bell.js';

/**
 * The two waits a call can be held in before it runs, and how each ends when nobody answers in time:
 * a call waiting for approval, and a task waiting for its client's input. One statement for both.
 */
const WAITS = {
  approval: {
    status: 'awaiting_approval',
    deadline: 'approval_expires_at',
    error: { code: 'approval_expired', message: 'Nobody approved this tool call in time; it did not run.' },
  },
  input: {
    status: 'awaiting_input',
    deadline: 'input_expires_at',
    error: { code: 'input_expired', message: 'Nobody answered what this tool call asked in time; it did not run.' },
  },
} as const satisfies Record<string, { status: CallStatus; deadline: string; error: ToolCallError }>;

/**
 * Fail the calls whose wait passed its deadline (any tenant: the worker's sweep), at most `limit`
 * per statement, each due row taken with SKIP LOCKED (several workers never do the work twice):
 * `failed` with the wait's code, audit `tool_call.<code>` (deny), the bell rung so a waiting request
 * answers. Returns how many expired.
 */
export async function expireWaiting(sql: postgres.Sql, wait: keyof typeof WAITS, limit: number): Promise<number> {
  const w = WAITS[wait];
  const deadline = sql(w.deadline);
  const rows = await sql`
    with due as (
      select tenant_id, id from tool_calls
      where ${deadline} is not null and finished_at is null and ${deadline} <= now() and status = ${w.status}::tool_call_status
      order by ${deadline} limit ${limit} for update skip locked
    ), upd as (
      update tool_calls t set status = 'failed', error = ${JSON.stringify(w.error)}::jsonb, finished_at = now()
      from due where t.tenant_id = due.tenant_id and t.id = due.id and t.status = ${w.status}::tool_call_status
      returning t.*
    ), audit as (
      insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
      select tenant_id, user_id, client_id, id, tool, ${`tool_call.${w.error.code}`}, 'deny', ${w.error.code}, request_id from upd
    ), bell as (${bellFromUpd(sql)})
    select count(*)::int as n from bell`;
  return (rows[0] as { n: number }).n;
}
