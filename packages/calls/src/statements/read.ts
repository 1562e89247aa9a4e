import type postgres from 'postgres';
import type { ToolCall } from '../schema.js';
import { pending, tenantOf, toCall, type Row } from './row.js';

/**
 * Load: calls still queued or running, by id (the worker's first step: the arguments live in the
 * row, not in the job); undefined for a final or unknown call. Reads only; no audit.
 */
export const loadMany =
  (sql: postgres.Sql) =>
  async (items: { tenantId: string; id: string }[]): Promise<(ToolCall | undefined)[]> => {
    const tenantId = tenantOf(items);
    // Only calls still to run: the predicate lets Postgres use the small partial index of pending
    // calls (tool_calls_user_pending) whatever its statistics say, never a scan of the table.
    const rows = await sql`
      select * from tool_calls where tenant_id = ${tenantId} and ${pending(sql)} and id = any(${items.map((i) => i.id)}::text[])`;
    const byId = new Map((rows as Row[]).map((r) => [r.id as string, toCall(r)]));
    return items.map((i) => byId.get(i.id));
  };

export async function byId(sql: postgres.Sql, tenantId: string, id: string): Promise<ToolCall | undefined> {
  const [row] = await sql`select * from tool_calls where tenant_id = ${tenantId} and id = ${id}`;
  return row ? toCall(row) : undefined;
}

/**
 * A call by id in *any* tenant. Not tenant-scoped on purpose, and for one use only: the worker
 * checking a job that names a call its tenant does not have (a job forged or misrouted across
 * tenants), so the refusal is audited in the tenant that owns the call. Never returns the row to
 * anyone outside that tenant.
 */
export async function locateAnyTenant(sql: postgres.Sql, id: string): Promise<ToolCall | undefined> {
  const [row] = await sql`select * from tool_calls where id = ${id}`;
  return row ? toCall(row) : undefined;
}
