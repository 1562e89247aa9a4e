import type postgres from 'postgres';
import { PENDING_SQL } from './call-states.js';
import { toCall } from './statements/row.js';
import type { ToolCall } from './schema.js';

/**
 * A tenant's calls, reached through tool_calls_tenant_created ((tenant_id::text), created_at, id): in
 * creation order, visiting only this tenant's rows. The index is led by an expression so that the
 * hot path's statements (`tenant_id = …`) cannot pick it (schema.ts says why); this condition names
 * both, the expression for the index and the column for the tenant scope. The id goes through uuid,
 * so any spelling of it matches the column's canonical text.
 */
export const tenantCallsByAge = (sql: postgres.Sql, tenantId: string) => sql`tenant_id = ${tenantId} and (tenant_id::text) = ${tenantId}::uuid::text`;

/**
 * Lists of calls for the history APIs (the end user's and the back office's), bound to one tenant. Keyset pagination on
 * (created_at, id), newest first, over the indexes tool_calls_user_created / tool_calls_tenant_created.
 * The position is carried as created_at's text with microseconds (a JS Date keeps milliseconds only,
 * and a cursor rounded to them would skip or repeat rows created in the same millisecond).
 */
export interface CallFilter {
  userId?: string | undefined;
  status?: ToolCall['status'] | undefined;
  tool?: string | undefined;
  since?: Date | undefined;
  until?: Date | undefined;
  /**
   * Only the calls one OAuth client made with one of these tools (the policy's `callListFilter` for a
   * user token without `calls:read`); `clientId: null` or no tools: none. Applied in the statement, so
   * a page counts only visible rows and the keyset cursor stays exact.
   */
  madeBy?: { clientId: string | null; tools: readonly string[] } | undefined;
}

export interface CallPageRow {
  call: ToolCall;
  /** created_at, UTC with microseconds: the cursor position. */
  createdKey: string;
}

export function callHistory(sql: postgres.Sql, tenantId: string) {
  return {
    async page(f: CallFilter, after: { createdKey: string; id: string } | null, limit: number): Promise<CallPageRow[]> {
      const rows = await sql`
        select *, to_char(created_at at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') as _created_key
        from tool_calls
        where ${
          // One user's calls: tool_calls_user_created; the whole tenant's: tool_calls_tenant_created (only
          // a statement that names its expression can use it, so a user's page is never walked through it).
          f.userId ? sql`tenant_id = ${tenantId} and user_id = ${f.userId}` : tenantCallsByAge(sql, tenantId)
        }
          ${f.status ? sql`and status = ${f.status}` : sql``}
          ${f.tool ? sql`and tool = ${f.tool}` : sql``}
          ${f.madeBy ? (f.madeBy.clientId === null || f.madeBy.tools.length === 0 ? sql`and false` : sql`and client_id = ${f.madeBy.clientId} and tool = any(${[...f.madeBy.tools]}::text[])`) : sql``}
          ${f.since ? sql`and created_at >= ${f.since.toISOString()}::timestamptz` : sql``}
          ${f.until ? sql`and created_at < ${f.until.toISOString()}::timestamptz` : sql``}
          ${after ? sql`and (created_at, id) < (${after.createdKey}::timestamptz, ${after.id})` : sql``}
        order by created_at desc, id desc
        limit ${limit}`;
      return (rows as Record<string, unknown>[]).map((r) => ({ call: toCall(r), createdKey: r._created_key as string }));
    },
  };
}

/** A tenant's calls not final yet, by status, with the age of the oldest of each (the admin console's queue page). */
export async function pendingCallsSummary(sql: postgres.Sql, tenantId: string): Promise<{ status: string; count: number; oldestAgeMs: number }[]> {
  const rows = await sql`
    select status, count(*)::int as n, extract(epoch from now() - min(created_at)) * 1000 as age_ms
    from tool_calls where tenant_id = ${tenantId} and ${sql.unsafe(PENDING_SQL)}
    group by status order by status`;
  return (rows as Record<string, unknown>[]).map((r) => ({ status: r.status as string, count: r.n as number, oldestAgeMs: Number(r.age_ms) }));
}

/** A call waiting for a tenant approver, with who it would run as (the admin console's approvals page). */
export interface AwaitingApproval {
  call: ToolCall;
  userEmail: string | null;
  userName: string | null;
}

/**
 * This tenant's calls a `tenant` approval rule holds and whose deadline has not passed (deciding a
 * later one is refused, and the sweep fails it), soonest deadline first, at most `limit`. A `user`
 * rule's calls are not here: only their user decides them.
 */
export async function awaitingTenantApproval(sql: postgres.Sql, tenantId: string, limit: number): Promise<AwaitingApproval[]> {
  const rows = await sql`
    select c.*, u.email as _user_email, u.display_name as _user_name
    from tool_calls c left join users u on u.tenant_id = c.tenant_id and u.id = c.user_id
    where c.tenant_id = ${tenantId} and c.status = 'awaiting_approval' and c.approver = 'tenant' and c.approval_expires_at > now()
    order by c.approval_expires_at, c.id
    limit ${limit}`;
  return (rows as Record<string, unknown>[]).map((r) => ({
    call: toCall(r),
    userEmail: (r._user_email as string | null) ?? null,
    userName: (r._user_name as string | null) ?? null,
  }));
}
