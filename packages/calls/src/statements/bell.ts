import type postgres from 'postgres';
import { z } from 'zod';
import { FINAL_STATUSES } from '../call-states.js';
import type { ToolCall, ToolCallError } from '../schema.js';

/**
 * The completion bell. Statements that make a call final also `pg_notify` CALL_DONE_CHANNEL:
 * Postgres delivers it only when the write commits, so the API's wait is woken by the database
 * itself, after the row is visible, with no extra round trip from the worker. The payload is
 * `<call id> <outcome JSON>`, the committed final state (status, result, error, attempt, times)
 * built by the same statement, so the waiting API answers without reading the row back; when that
 * would not fit NOTIFY's 8000-byte limit the payload is the id alone and the API reads the row.
 */
export const CALL_DONE_CHANNEL = 'mcprt_call_done';
/** Largest outcome JSON sent in a bell (NOTIFY payloads must stay under 8000 bytes with the id). */
export const BELL_OUTCOME_MAX_BYTES = 7_900;

/** The final state a bell carries (JSON keys as sent by `bellFromUpd`). */
export const callOutcomeSchema = z.object({
  status: z.enum(FINAL_STATUSES),
  result: z.unknown(),
  error: z
    .object({ code: z.string(), message: z.string(), retryable: z.boolean().optional(), details: z.record(z.string(), z.unknown()).optional() })
    .nullable(),
  attempt: z.number().int(),
  startedAt: z.string().nullable(),
  finishedAt: z.string(),
});
export type CallOutcomeBell = z.infer<typeof callOutcomeSchema>;

/** The row of a waited-for call, brought to the final state a bell announced. */
export function applyOutcome(call: ToolCall, o: CallOutcomeBell): ToolCall {
  return {
    ...call,
    status: o.status,
    result: o.result ?? null,
    error: (o.error as ToolCallError | null) ?? null,
    attempt: o.attempt,
    startedAt: o.startedAt ? new Date(o.startedAt) : null,
    finishedAt: new Date(o.finishedAt),
  };
}

/**
 * The bell, as a fragment for a statement whose `upd` CTE returns the final rows (tenant_id, id,
 * status, result, error, attempt, started_at, finished_at): one NOTIFY per row, `<id> <outcome>`
 * or the id alone when the outcome is too large.
 */
export const bellFromUpd = (sql: postgres.Sql) => sql`
    select o.tenant_id, o.id, pg_notify(${CALL_DONE_CHANNEL}, case when octet_length(o.j) <= ${BELL_OUTCOME_MAX_BYTES} then o.id || ' ' || o.j else o.id end)
    from (select tenant_id, id, json_build_object('status', status, 'result', result, 'error', error, 'attempt', attempt,
            'startedAt', started_at, 'finishedAt', finished_at)::text as j from upd) o`;

/**
 * Hear CALL_DONE_CHANNEL (a dedicated connection; postgres.js re-listens after reconnecting).
 * `outcome` is the unparsed JSON of the final state when the bell carried it (parse it with
 * callOutcomeSchema only for calls someone waits for).
 */
export async function onCallDone(sql: postgres.Sql, fn: (callId: string, outcome?: string) => void): Promise<{ unlisten(): Promise<void> }> {
  const sub = await sql.listen(CALL_DONE_CHANNEL, (payload) => {
    const sp = payload.indexOf(' ');
    if (sp < 0) fn(payload);
    else fn(payload.slice(0, sp), payload.slice(sp + 1));
  });
  return { unlisten: () => sub.unlisten() };
}
