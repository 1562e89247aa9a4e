import type postgres from 'postgres';
import { ADMISSION_CHANNEL, ADMISSION_ROW_MAX_BYTES } from '../admissions.js';
import type { ToolCall } from '../schema.js';
import { pending, tenantOf, toCall, type Row } from './row.js';

export interface RecordCallInput {
  id: string;
  userId: string;
  clientId: string | null;
  tool: string;
  arguments: Record<string, unknown>;
  idempotencyKey: string | null;
  /** Keyed hash of (tool, arguments), set with an idempotency key (see schema.ts). */
  argsHash?: string | null;
  /** Sealed real values of sensitive arguments (see schema.ts). */
  sealedArgs?: string | null;
  /** Sealed answers to the tool's input requests (see schema.ts). */
  sealedInput?: string | null;
  /**
   * Recorded as a task waiting for its client's answers (`awaiting_input`, audit
   * `tool_call.input_requested`): nothing enqueues it until the last answer arrives.
   */
  awaitInput?: boolean;
  /** With `awaitInput`: until when it waits (then the sweep fails it, `input_expired`). */
  inputExpiresAt?: Date | undefined;
  requestId: string | null;
  /** Admission control: refuse when the user already has this many calls queued or running. */
  pendingCap: number;
  /**
   * Set when the tenant's rules make the call wait for a person's approval: it is recorded
   * `awaiting_approval` (audit `tool_call.approval_requested`) instead of `queued`, and nothing
   * enqueues it until it is approved.
   */
  approval?: { approver: 'user' | 'tenant'; expiresAt: Date } | undefined;
}

export type RecordCallResult = { admitted: true; call: ToolCall } | { admitted: false; pending: number };

/**
 * Record: admit, insert each call as `queued` and write its audit row `tool_call.accepted` (allow),
 * in one statement: the counts, the inserts and the audit inserts see one snapshot and commit
 * together, or not at all. The outcome is the same as recording the calls one after another in
 * order: per (tenant, user), the k-th call is admitted if the pending count plus the k-1 before it
 * stays under its cap. A call refused here writes nothing (the caller audits the refusal).
 */
export const recordMany =
  (sql: postgres.Sql) =>
  async (items: { tenantId: string; c: RecordCallInput }[]): Promise<RecordCallResult[]> =>
    recordResults((await recordStatement(sql, items)) as Row[]);

/**
 * The record statement itself. `announce` (the admission gate's lone call): each call's outcome is
 * also announced on ADMISSION_CHANNEL when the statement commits (admissions.ts: the committed row,
 * `+` when it is too large for a notice, `-` when refused).
 */
export function recordStatement(sql: postgres.Sql, items: { tenantId: string; c: RecordCallInput }[], announce = false) {
  const tenantId = tenantOf(items);
  const input = items.map(({ c }, ord) => ({
    ord,
    id: c.id,
    user_id: c.userId,
    client_id: c.clientId,
    tool: c.tool,
    arguments: c.arguments,
    idempotency_key: c.idempotencyKey,
    args_hash: c.argsHash ?? null,
    sealed_args: c.sealedArgs ?? null,
    sealed_input: c.sealedInput ?? null,
    await_input: c.awaitInput === true,
    input_expires_at: c.awaitInput ? (c.inputExpiresAt?.toISOString() ?? null) : null,
    request_id: c.requestId,
    cap: c.pendingCap,
    approver: c.approval?.approver ?? null,
    approval_expires_at: c.approval?.expiresAt.toISOString() ?? null,
  }));
  const users = [...new Set(items.map((i) => i.c.userId))];
  // Rows are reached through indexes only: the tenant is one value and the users an array
  // (tool_calls_user_pending), never by joining the table to the JSON input.
  return sql`
      with input as (
        select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as x(ord int, id text, user_id uuid,
          client_id text, tool text, arguments jsonb, idempotency_key text, args_hash text, sealed_args text, sealed_input text, await_input boolean, input_expires_at timestamptz,
          request_id text, cap int, approver text, approval_expires_at timestamptz)
      ), pending as (
        select user_id, count(*)::int as n from tool_calls
        where tenant_id = ${tenantId} and user_id = any(${users}::uuid[]) and ${pending(sql)}
        group by user_id
      ), ranked as (
        select i.*, coalesce(p.n, 0) as pn, coalesce(p.n, 0) + (row_number() over (partition by i.user_id order by i.ord))::int - 1 as ahead
        from input i left join pending p on p.user_id = i.user_id
      ), ins as (
        insert into tool_calls (id, tenant_id, user_id, client_id, tool, arguments, idempotency_key, args_hash, sealed_args, sealed_input,
          input_expires_at, request_id, status, approver, approval_expires_at)
        select id, ${tenantId}, user_id, client_id, tool, arguments, idempotency_key, args_hash, sealed_args, sealed_input, input_expires_at,
          request_id,
          (case when approver is not null then 'awaiting_approval' when await_input then 'awaiting_input' else 'queued' end)::tool_call_status,
          approver, approval_expires_at
        from ranked where ahead < cap
        returning *
      ), audit as (
        insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, request_id, arguments)
        select tenant_id, user_id, client_id, id, tool,
          case when approver is not null then 'tool_call.approval_requested' when status = 'awaiting_input' then 'tool_call.input_requested'
            else 'tool_call.accepted' end,
          case when status = 'queued' then 'allow' else 'info' end, request_id, arguments from ins
      )
      select r.ord as _ord, r.pn as _pn, r.cap as _cap, ins.*${announce ? announcement(sql) : sql``} from ranked r left join ins on ins.id = r.id order by r.ord`;
}

/** The admission notice of each input row, as a column of the record statement's last select. */
function announcement(sql: postgres.Sql) {
  return sql`, pg_notify(${ADMISSION_CHANNEL}, r.id || ' ' || (select case when ins.id is null then '-'
      when octet_length(j) <= ${ADMISSION_ROW_MAX_BYTES} then j else '+' end from (select row_to_json(ins)::text as j) x)) as _announced`;
}

/** The record statement's rows, in input order, as results. */
export const recordResults = (rows: Row[]): RecordCallResult[] =>
  rows.map((row) =>
    row.id ? { admitted: true as const, call: toCall(row) } : { admitted: false as const, pending: Math.max(row._pn as number, row._cap as number) },
  );
