import type postgres from 'postgres';
import { z } from 'zod';
import { groupCommit } from '@mcprt/db';
import type { ToolCall, ToolCallError } from '@mcprt/db';

/**
 * The call path's hot statements, one round trip each (issue 2 benchmark): each is a single SQL
 * statement (atomic on its own, so no BEGIN/COMMIT round trips), written as postgres.js tagged
 * templates, which the driver prepares once per connection (Drizzle's builder sends every query
 * unprepared and costs ~2 ms of CPU per call to build). Every statement is scoped by tenant_id.
 *
 * Statements that make a call final also `pg_notify` CALL_DONE_CHANNEL: Postgres delivers it only
 * when the write commits, so the API's wait is woken by the database itself, after the row is
 * visible, with no extra round trip from the worker. The payload is `<call id> <outcome JSON>`, the
 * committed final state (status, result, error, attempt, times) built by the same statement, so the
 * waiting API answers without reading the row back; when that would not fit NOTIFY's 8000-byte
 * limit the payload is the id alone and the API reads the row.
 */

export const CALL_DONE_CHANNEL = 'mcprt_call_done';
/** Audit action of a run's final write that the fence rejected (see `noteStaleWrite`). */
export const STALE_RESULT_DISCARDED = 'tool_call.stale_result_discarded';
/** Largest outcome JSON sent in a bell (NOTIFY payloads must stay under 8000 bytes with the id). */
export const BELL_OUTCOME_MAX_BYTES = 7_900;

/** The final state a bell carries (JSON keys as sent by the statements below). */
export const callOutcomeSchema = z.object({
  status: z.enum(['succeeded', 'failed', 'cancelled']),
  result: z.unknown(),
  error: z
    .object({ code: z.string(), message: z.string(), retryable: z.boolean().optional(), details: z.record(z.string(), z.unknown()).optional() })
    .nullable(),
  attempt: z.number().int(),
  startedAt: z.string().nullable(),
  finishedAt: z.string(),
});
export type CallOutcomeBell = z.infer<typeof callOutcomeSchema>;

export const isFinal = (c: Pick<ToolCall, 'status'>): boolean => c.status === 'succeeded' || c.status === 'failed' || c.status === 'cancelled';

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

type Row = Record<string, unknown>;

/** snake_case row (`returning *`) → the ToolCall shape Drizzle's repositories return. */
export const toCall = (r: Row): ToolCall => ({
  id: r.id as string,
  tenantId: r.tenant_id as string,
  userId: r.user_id as string,
  clientId: r.client_id as string | null,
  tool: r.tool as string,
  arguments: r.arguments as Record<string, unknown>,
  status: r.status as ToolCall['status'],
  result: r.result,
  error: r.error as ToolCallError | null,
  attempt: r.attempt as number,
  idempotencyKey: r.idempotency_key as string | null,
  argsHash: (r.args_hash as string | null | undefined) ?? null,
  sealedArgs: (r.sealed_args as string | null | undefined) ?? null,
  requestId: r.request_id as string | null,
  createdAt: toDate(r.created_at)!,
  startedAt: toDate(r.started_at),
  finishedAt: toDate(r.finished_at),
});

/** The client hands timestamps over as text (Drizzle installs pass-through parsers on it). */
const toDate = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(v as string));

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
  requestId: string | null;
  /** Admission control: refuse when the user already has this many calls queued or running. */
  pendingCap: number;
}

export type RecordCallResult = { admitted: true; call: ToolCall } | { admitted: false; pending: number };

export interface FinishInput {
  id: string;
  /** The fencing token: the job's `attemptsStarted` (BullMQ counts it up at each start, in Redis). */
  attempt: number;
  /** How long this attempt has run (sets `started_at`, on the database's clock). */
  elapsedMs: number;
  outcome: { status: 'succeeded'; result: unknown } | { status: 'failed' | 'cancelled'; error: ToolCallError };
  audit: { userId: string; clientId: string | null; tool: string; requestId: string | null };
}

/** The one tenant of a group (groups are keyed by tenant; see the bottom of callStatements). */
function tenantOf(items: { tenantId: string }[]): string {
  const t = items[0]!.tenantId;
  if (items.some((i) => i.tenantId !== t)) throw new Error('call statements: a group mixes tenants');
  return t;
}

export function callStatements(sql: postgres.Sql) {
  /**
   * The bell, as a fragment for a statement whose `upd` CTE returns the final rows (tenant_id, id,
   * status, result, error, attempt, started_at, finished_at): one NOTIFY per row, `<id> <outcome>`
   * or the id alone when the outcome is too large.
   */
  const bellFromUpd = () => sql`
    select o.tenant_id, o.id, pg_notify(${CALL_DONE_CHANNEL}, case when octet_length(o.j) <= ${BELL_OUTCOME_MAX_BYTES} then o.id || ' ' || o.j else o.id end)
    from (select tenant_id, id, json_build_object('status', status, 'result', result, 'error', error, 'attempt', attempt,
            'startedAt', started_at, 'finishedAt', finished_at)::text as j from upd) o`;

  /**
   * Admit, record each call and its `accepted` audit row, in one statement: the counts, the inserts
   * and the audit inserts see one snapshot and commit together, or not at all. The outcome is the
   * same as recording the calls one after another in order: per (tenant, user), the k-th call is
   * admitted if the pending count plus the k-1 before it stays under its cap.
   */
  async function recordMany(items: { tenantId: string; c: RecordCallInput }[]): Promise<RecordCallResult[]> {
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
      request_id: c.requestId,
      cap: c.pendingCap,
    }));
    const users = [...new Set(items.map((i) => i.c.userId))];
    // Rows are reached through indexes only: the tenant is one value and the users an array
    // (tool_calls_user_pending), never by joining the table to the JSON input.
    const rows = await sql`
      with input as (
        select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as x(ord int, id text, user_id uuid,
          client_id text, tool text, arguments jsonb, idempotency_key text, args_hash text, sealed_args text, request_id text, cap int)
      ), pending as (
        select user_id, count(*)::int as n from tool_calls
        where tenant_id = ${tenantId} and user_id = any(${users}::uuid[]) and status in ('queued', 'running')
        group by user_id
      ), ranked as (
        select i.*, coalesce(p.n, 0) as pn, coalesce(p.n, 0) + (row_number() over (partition by i.user_id order by i.ord))::int - 1 as ahead
        from input i left join pending p on p.user_id = i.user_id
      ), ins as (
        insert into tool_calls (id, tenant_id, user_id, client_id, tool, arguments, idempotency_key, args_hash, sealed_args, request_id)
        select id, ${tenantId}, user_id, client_id, tool, arguments, idempotency_key, args_hash, sealed_args, request_id from ranked where ahead < cap
        returning *
      ), audit as (
        insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, request_id, arguments)
        select tenant_id, user_id, client_id, id, tool, 'tool_call.accepted', 'allow', request_id, arguments from ins
      )
      select r.ord as _ord, r.pn as _pn, r.cap as _cap, ins.* from ranked r left join ins on ins.id = r.id order by r.ord`;
    return (rows as Row[]).map((row) =>
      row.id ? { admitted: true as const, call: toCall(row) } : { admitted: false as const, pending: Math.max(row._pn as number, row._cap as number) },
    );
  }

  /** Read calls still queued or running, by id (the worker's first step: the arguments live in the row, not in the job); undefined for a final or unknown call. */
  async function loadMany(items: { tenantId: string; id: string }[]): Promise<(ToolCall | undefined)[]> {
    const tenantId = tenantOf(items);
    // Only calls still to run: the predicate lets Postgres use the small partial index of pending
    // calls (tool_calls_user_pending) whatever its statistics say, never a scan of the table.
    const rows = await sql`
      select * from tool_calls where tenant_id = ${tenantId} and status in ('queued', 'running') and id = any(${items.map((i) => i.id)}::text[])`;
    const byId = new Map((rows as Row[]).map((r) => [r.id as string, toCall(r)]));
    return items.map((i) => byId.get(i.id));
  }

  /**
   * Final write of each attempt and its audit row, in one statement, fenced per row: applies only
   * while the call is not final and no newer attempt has written it (`attempt` ≤ ours). Returns which
   * ones won (false: the call is final, or a newer attempt owns the row).
   */
  async function finishMany(items: { tenantId: string; f: FinishInput }[]): Promise<boolean[]> {
    const tenantId = tenantOf(items);
    const input = items.map(({ f }) => {
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
    });
    const rows = await sql`
      with v as (
        select * from jsonb_to_recordset(${JSON.stringify(input)}::jsonb) as x(id text, attempt int, elapsed_ms int,
          status tool_call_status, result jsonb, error jsonb, reason text, user_id uuid, client_id text, tool text, request_id text)
      ), upd as (
        update tool_calls t set status = v.status, result = v.result -> 'v', error = v.error, attempt = v.attempt,
          started_at = now() - v.elapsed_ms * interval '1 millisecond', finished_at = now()
        from v
        where t.tenant_id = ${tenantId} and t.id = any(${items.map((i) => i.f.id)}::text[]) and t.id = v.id
          and t.attempt <= v.attempt and t.status in ('queued', 'running')
        returning t.tenant_id, t.id, t.status, t.result, t.error, t.attempt, t.started_at, t.finished_at
      ), audit as (
        insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
        select upd.tenant_id, v.user_id, v.client_id, upd.id, v.tool, 'tool_call.' || upd.status,
          case when upd.status = 'succeeded' then 'allow' else 'deny' end, v.reason, v.request_id
        from upd join v on v.id = upd.id
      ), bell as (${bellFromUpd()})
      select id from bell`;
    const won = new Set((rows as Row[]).map((r) => r.id as string));
    return items.map(({ f }) => won.has(f.id));
  }

  // Grouped per tenant: a statement only ever carries one tenant's rows (tenant isolation holds per
  // statement, not only per row).
  const record = groupCommit({ many: recordMany, key: (i) => i.tenantId });
  const load = groupCommit({ many: loadMany, key: (i) => i.tenantId });
  const finish = groupCommit({ many: finishMany, key: (i) => i.tenantId });

  return {
    /** See `recordMany`; calls made in the same event-loop turn share one statement (group-commit.ts). */
    record: (tenantId: string, c: RecordCallInput): Promise<RecordCallResult> => record({ tenantId, c }),
    /** See `loadMany`; grouped like `record`. */
    load: (tenantId: string, id: string): Promise<ToolCall | undefined> => load({ tenantId, id }),
    /**
     * Show a call that runs longer than a moment as `running` under this attempt (the worker calls it
     * only then: a quick call goes from `queued` to final in one write). Fenced like `finish`.
     */
    async markRunning(tenantId: string, id: string, attempt: number, elapsedMs: number): Promise<boolean> {
      const rows = await sql`
        update tool_calls set status = 'running', attempt = ${attempt}, started_at = now() - ${Math.max(0, Math.round(elapsedMs))} * interval '1 millisecond'
        where tenant_id = ${tenantId} and id = ${id} and attempt <= ${attempt} and status in ('queued', 'running')
        returning id`;
      return rows.length === 1;
    },
    /** See `finishMany`; grouped like `record`. */
    finish: (tenantId: string, f: FinishInput): Promise<boolean> => finish({ tenantId, f }),

    async byId(tenantId: string, id: string): Promise<ToolCall | undefined> {
      const [row] = await sql`select * from tool_calls where tenant_id = ${tenantId} and id = ${id}`;
      return row ? toCall(row) : undefined;
    },

    /**
     * A call by id in *any* tenant. Not tenant-scoped on purpose, and for one use only: the worker
     * checking a job that names a call its tenant does not have (a job forged or misrouted across
     * tenants), so the refusal is audited in the tenant that owns the call. Never returns the row to
     * anyone outside that tenant.
     */
    async locateAnyTenant(id: string): Promise<ToolCall | undefined> {
      const [row] = await sql`select * from tool_calls where id = ${id}`;
      return row ? toCall(row) : undefined;
    },

    /**
     * A final write the fence rejected (the call was already final, or a newer attempt owns the row):
     * one audit row `tool_call.stale_result_discarded`, decision `info`, whose reason names both runs —
     * `stale_attempt=<ours> discarded=<our outcome> row_attempt=<the owner's> row_status=<its status>`
     * — read from the row in the same statement. Called only after `finish` returned false, so the
     * normal path pays nothing; audit_events stays append-only (an INSERT).
     */
    async noteStaleWrite(tenantId: string, f: Pick<FinishInput, 'id' | 'attempt' | 'audit'> & { discarded: string }): Promise<void> {
      await sql`
        insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
        select tenant_id, ${f.audit.userId}, ${f.audit.clientId}, id, ${f.audit.tool}, ${STALE_RESULT_DISCARDED}, 'info',
          ${`stale_attempt=${f.attempt} discarded=${f.discarded} `} || 'row_attempt=' || attempt || ' row_status=' || status, ${f.audit.requestId}
        from tool_calls where tenant_id = ${tenantId} and id = ${f.id}`;
    },

    /** Fail a call that never reached a final write (its job was lost to repeated stalls, or ended). */
    async failIfNotFinal(tenantId: string, id: string, error: ToolCallError): Promise<boolean> {
      const rows = await sql`
        with upd as (
          update tool_calls set status = 'failed', error = ${JSON.stringify(error)}::jsonb, finished_at = now()
          where tenant_id = ${tenantId} and id = ${id} and status in ('queued', 'running')
          returning tenant_id, id, user_id, client_id, tool, request_id, status, result, error, attempt, started_at, finished_at
        ), audit as (
          insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
          select ${tenantId}, user_id, client_id, id, tool, 'tool_call.failed', 'deny', ${error.code}, request_id from upd
        ), bell as (${bellFromUpd()})
        select count(*)::int as n from bell`;
      return (rows[0] as { n: number }).n === 1;
    },

    /**
     * Cancel a call (issue 11): status `cancelled`, its `tool_call.cancelled` audit row and the bell,
     * in one statement. Fenced like every final write: it applies only while the call is `queued` or
     * `running`, so a result written first wins and a result written after is dropped by `finish`'s
     * own fence (the call stays cancelled). `userId` set: only that user's call (an end user's cancel);
     * another user's call answers `not_found`, exactly like a missing one. `reason` names who cancelled
     * (`by_user`, `by_api_key:<id>`, …) in the audit row.
     */
    async cancel(
      tenantId: string,
      c: { id: string; userId?: string | undefined; reason: string; requestId: string | null; error: ToolCallError },
    ): Promise<{ outcome: 'cancelled'; call: ToolCall } | { outcome: 'final'; call: ToolCall } | { outcome: 'not_found' }> {
      const owner = c.userId ?? null;
      const rows = await sql`
        with cur as (
          select * from tool_calls where tenant_id = ${tenantId} and id = ${c.id} and (${owner}::uuid is null or user_id = ${owner}::uuid)
        ), upd as (
          update tool_calls t set status = 'cancelled', error = ${JSON.stringify(c.error)}::jsonb, finished_at = now()
          from cur where t.tenant_id = ${tenantId} and t.id = cur.id and t.status in ('queued', 'running')
          returning t.*
        ), audit as (
          insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
          select tenant_id, user_id, client_id, id, tool, 'tool_call.cancelled', 'info', ${c.reason}, ${c.requestId} from upd
        ), bell as (${bellFromUpd()})
        select true as _won, upd.* from upd, (select count(*) from bell) b
        union all
        select false as _won, cur.* from cur where not exists (select 1 from upd)`;
      const row = rows[0] as Row | undefined;
      if (!row) return { outcome: 'not_found' };
      return { outcome: row._won ? 'cancelled' : 'final', call: toCall(row) };
    },

    /**
     * Hear CALL_DONE_CHANNEL (a dedicated connection; postgres.js re-listens after reconnecting).
     * `outcome` is the unparsed JSON of the final state when the bell carried it (parse it with
     * callOutcomeSchema only for calls someone waits for).
     */
    async onCallDone(fn: (callId: string, outcome?: string) => void): Promise<{ unlisten(): Promise<void> }> {
      const sub = await sql.listen(CALL_DONE_CHANNEL, (payload) => {
        const sp = payload.indexOf(' ');
        if (sp < 0) fn(payload);
        else fn(payload.slice(0, sp), payload.slice(sp + 1));
      });
      return { unlisten: () => sub.unlisten() };
    },
  };
}

export type CallStatements = ReturnType<typeof callStatements>;
