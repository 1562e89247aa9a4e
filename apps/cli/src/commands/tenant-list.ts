import { tenantsRepository, type Tenant } from '@mcprt/db';
import { hint, type CliResources } from '../resources.js';
import { mcpUrlOf } from '../tenant-urls.js';

/** `tenant list`: one line per tenant: slug, issuer, enabled tools, MCP URL (columns aligned). */
export async function tenantList(res: CliResources): Promise<{ tenants: Tenant[] }> {
  const tenants = await tenantsRepository(res.db).list();
  if (tenants.length === 0) {
    hint(res, 'no tenants yet: create one with `pnpm cli tenant create --slug … --issuer …`');
    return { tenants };
  }
  const rows = tenants.map((t) => [t.slug, t.idpIssuer, t.enabledTools.length ? t.enabledTools.join(',') : '-', mcpUrlOf(res.config, t.slug)]);
  const widths = [0, 1, 2].map((i) => Math.max(...rows.map((r) => r[i]!.length)));
  for (const r of rows) res.out(r.map((cell, i) => (i < 3 ? cell.padEnd(widths[i]!) : cell)).join('  '));
  return { tenants };
}
