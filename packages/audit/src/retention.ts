import { FINAL_STATUSES, tenantCallsByAge } from '@mcprt/calls';
import type postgres from 'postgres';

/**
 * Retention settings (docs/audit.md "Retention"). Defaults when a tenant has no `tenant_retention`
 * row; the audit default also lives in the database function (migration 0005).
 */
const DEFAULT_CALL_RESULT_DAYS = 30;
const DEFAULT_AUDIT_EVENT_DAYS = 400;

export interface RetentionSettings {
  callResultDays: number;
  auditEventDays: number;
}

export async function retentionOf(sql: postgres.Sql, tenantId: string): Promise<RetentionSettings> {
  const [r] = await sql`select call_result_days, audit_event_days from tenant_retention where tenant_id = ${tenantId}`;
  return r
    ? { callResultDays: r.call_result_days as number, auditEventDays: r.audit_event_days as number }
    : { callResultDays: DEFAULT_CALL_RESULT_DAYS, auditEventDays: DEFAULT_AUDIT_EVENT_DAYS };
}

export async function setRetention(sql: postgres.Sql, tenantId: string, s: Partial<RetentionSettings>): Promise<RetentionSettings> {
  const cur = await retentionOf(sql, tenantId);
  const next = { ...cur, ...s };
  await sql`insert into tenant_retention (tenant_id, call_result_days, audit_event_days) values (${tenantId}, ${next.callResultDays}, ${next.auditEventDays})
    on conflict (tenant_id) do update set call_result_days = excluded.call_result_days, audit_event_days = excluded.audit_event_days`;
  return next;
}

/**
 * Delete up to `batch` final calls (the call states' final set) of the tenant created and finished before the retention cutoff.
 * One short statement (row locks on the batch only); the caller repeats until it returns < batch.
 */
export async function deleteExpiredCalls(sql: postgres.Sql, tenantId: string, days: number, batch: number): Promise<number> {
  const rows = await sql`
    delete from tool_calls where tenant_id = ${tenantId} and id = any(array(
      select id from tool_calls
      where ${tenantCallsByAge(sql, tenantId)} and created_at < now() - make_interval(days => ${days})
        and status in ${sql(FINAL_STATUSES)} and finished_at < now() - make_interval(days => ${days})
      order by created_at limit ${batch}))
    returning 1`;
  return rows.length;
}

export async function allTenantIds(sql: postgres.Sql): Promise<string[]> {
  return ((await sql`select id from tenants order by created_at`) as { id: string }[]).map((r) => r.id);
}
