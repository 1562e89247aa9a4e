import type postgres from 'postgres';
import { openSql, pendingSql } from '../call-states.js';
import type { ToolCall, ToolCallError } from '../schema.js';

export type Row = Record<string, unknown>;

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
  sealedInput: (r.sealed_input as string | null | undefined) ?? null,
  inputExpiresAt: toDate(r.input_expires_at),
  requestId: r.request_id as string | null,
  approver: (r.approver as ToolCall['approver'] | undefined) ?? null,
  approvalExpiresAt: toDate(r.approval_expires_at),
  createdAt: toDate(r.created_at)!,
  startedAt: toDate(r.started_at),
  finishedAt: toDate(r.finished_at),
});

/** The client hands timestamps over as text (Drizzle installs pass-through parsers on it). */
const toDate = (v: unknown): Date | null => (v === null || v === undefined ? null : v instanceof Date ? v : new Date(v as string));

/** The one tenant of a group (groups are keyed by tenant: a statement only ever carries one tenant's rows). */
export function tenantOf(items: { tenantId: string }[]): string {
  const t = items[0]!.tenantId;
  if (items.some((i) => i.tenantId !== t)) throw new Error('call statements: a group mixes tenants');
  return t;
}

/**
 * The pending fence (`pendingSql`, from the state table) as a fragment of a
 * tagged statement, for `column` (`t.status` inside an UPDATE … FROM). Literal text, not a
 * parameter: the planner proves the partial index `tool_calls_user_pending` from it, and the
 * statement's text stays the same, so the driver's prepared statement is reused.
 */
export const pending = (sql: postgres.Sql, column = 'status'): postgres.PendingQuery<postgres.Row[]> => sql.unsafe(pendingSql(column));

/** The fence of a cancel (`openSql`): any call not final, a call awaiting approval included. */
export const open = (sql: postgres.Sql, column = 'status'): postgres.PendingQuery<postgres.Row[]> => sql.unsafe(openSql(column));
