import { retentionOf, setRetention, type RetentionSettings } from '@mcprt/audit';
import { tenantsRepository } from '@mcprt/db';
import { parseIntInRange, parseSlug } from '../args.js';
import { CliError, type CliResources } from '../resources.js';

/** `tenant retention --slug acme [--call-days N] [--audit-days N]`: how long call results and audit events are kept (docs/audit.md). */
export async function tenantRetention(res: CliResources, input: { slug?: string; callDays?: string; auditDays?: string }): Promise<RetentionSettings> {
  const slug = parseSlug(input.slug);
  const tenant = await tenantsRepository(res.db).bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  if (!res.sql) throw new Error('tenant retention needs the raw database client');
  const change: Partial<RetentionSettings> = {};
  if (input.callDays !== undefined) change.callResultDays = parseIntInRange(input.callDays, '--call-days', 30, 1, 36_500);
  if (input.auditDays !== undefined) change.auditEventDays = parseIntInRange(input.auditDays, '--audit-days', 400, 1, 36_500);
  const r = Object.keys(change).length ? await setRetention(res.sql, tenant.id, change) : await retentionOf(res.sql, tenant.id);
  res.out(`tenant ${slug}: call results kept ${r.callResultDays} days, audit events ${r.auditEventDays} days (and only once sealed)`);
  return r;
}
