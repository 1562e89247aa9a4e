import type postgres from 'postgres';
import type { ToolCallError } from '../schema.js';
import { bellFromUpd } from './bell.js';
import { pending, tenantOf, type Row } from './row.js';

export interface FinishInput {
  id: string;
  /** The fencing token: the job's `attemptsStarted` (BullMQ counts it up at each start, in Redis). */
  attempt: number;
  /** How long this attempt has run (sets `started_at`, on the database's clock). */
  elapsedMs: number;
  outcome: { status: 'succeeded'; result: unknown } | { status: 'failed' | 'cancelled'; error: ToolCallError };
  audit: { userId: string; clientId: string | null; tool: string; requestId: string | null };
}

/**
 * Start: show a call that runs longer than a moment as `running` under this attempt (the worker
 * calls it only then: a quick call goes from `queued` to final in one write). Fenced like `settle`:
 * only while pending and no newer attempt wrote the row. No audit row (the run's outcome is audited).
 */
export async function markRunning(sql: postgres.Sql, tenantId: string, id: string, attempt: number, elapsedMs: number): Promise<boolean> {
  const rows = await sql`
    update tool_calls set status = 'running', attempt = ${attempt}, started_at = now() - ${Math.max(0, Math.round(elapsedMs))} * interval '1 millisecond'
    where tenant_id = ${tenantId} and id = ${id} and attempt <= ${attempt} and ${pending(sql)}
    returning id`;
  return rows.length === 1;
}

const settleRow = ({ f }: { f: FinishInput }) => {
  const ok = f.outcome.status === 'succeeded';
  const error = ok ? null : (f.outcome as { error: ToolCallError }).error;
  return {
    id: f.id,
    attempt: f.attempt,
    elapsed_ms: Math.max(0, Math.round(f.elapsedMs)),
    status: f.outcome.status,
    // Wrapped, so a result that is JSON null stays a jsonb null instead of becoming SQL NULL.
    result: ok ? { v: (f.outcome as { result: unknown }).result ?? null } : null,
    error,
    reason: error?.code ?? null,
    user_id: f.audit.userId,
    client_id: f.audit.clientId,
    tool: f.audit.tool,
    request_id: f.audit.requestId,
  };
};

/**
 * Settle: the final write of each attempt, in one statement, fenced per row: applies only while the
 * call is pending and no newer attempt has written it (`attempt` ≤ ours). Audit: one row per win,
 * `tool_call.<status>` (allow for succeeded, deny otherwise, reason = the error code); rings the
 * bell. Returns which ones won (false: the call is final, or a newer attempt owns the row).
 */
export const finishMany =
  (sql: postgres.Sql) =>
  async (items: { tenantId: string; f: FinishInput }[]): Promise<boolean[]> => {
    const tenantId = tenantOf(items);
    const rows = await sql`
      with v as (
        select * from jsonb_to_recordset(${JSON.stringify(items.map(settleRow))}::jsonb) as x(id text, attempt int, elapsed_ms int,
          status tool_call_status, result jsonb, error jsonb, reason text, user_id uuid, client_id text, tool text, request_id text)
      ), upd as (
        update tool_calls t set status = v.status, result = v.result -> 'v', error = v.error, attempt = v.attempt,
          started_at = now() - v.elapsed_ms * interval '1 millisecond', finished_at = now()
        from v
        where t.tenant_id = ${tenantId} and t.id = any(${items.map((i) => i.f.id)}::text[]) and t.id = v.id
          and t.attempt <= v.attempt and ${pending(sql, 't.status')}
        returning t.tenant_id, t.id, t.status, t.result, t.error, t.attempt, t.started_at, t.finished_at
      ), audit as (
        insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
        select upd.tenant_id, v.user_id, v.client_id, upd.id, v.tool, 'tool_call.' || upd.status,
          case when upd.status = 'succeeded' then 'allow' else 'deny' end, v.reason, v.request_id
        from upd join v on v.id = upd.id
      ), bell as (${bellFromUpd(sql)})
      select id from bell`;
    const won = new Set((rows as Row[]).map((r) => r.id as string));
    return items.map(({ f }) => won.has(f.id));
  };
