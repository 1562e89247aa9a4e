import { readFile } from 'node:fs/promises';
import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import { auditPublicKeys, publicKeyFromJwk, verifyAuditExport, verifyTenantTrail, type VerifyReport } from '@mcprt/audit';
import { parseKeyring } from '@mcprt/keyring';
import { tenantsRepository } from '@mcprt/db';
import { z } from 'zod';
import { parseSlug } from '../args.js';
import { CliError, UsageError, type CliResources } from '../resources.js';

/**
 * `audit verify --slug acme [--since <ISO time>]` (docs/audit.md): recompute the
 * tenant's checkpoint chain (every signature and link, from checkpoint 1) and every sealed row (from
 * the first checkpoint reaching --since), and name the first row that is missing, altered or
 * reordered. The public keys come from the keyring, not from the database being checked.
 */
export async function auditVerify(res: CliResources, input: { slug?: string; since?: string }): Promise<{ report: VerifyReport; exitCode: number }> {
  const slug = parseSlug(input.slug);
  const since = input.since === undefined ? undefined : new Date(input.since);
  if (since && Number.isNaN(since.getTime())) throw new UsageError('--since must be an ISO 8601 time, e.g. 2026-11-01T00:00:00Z');
  const tenant = await tenantsRepository(res.db).bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  const keys = new Map(auditPublicKeys(keyring, tenant.id).map((k) => [k.kid, publicKeyFromJwk(k)]));
  if (!res.sql) throw new Error('audit verify needs the raw database client');
  const report = await verifyTenantTrail(res.sql, tenant.id, keys, since);
  printReport(res, `tenant ${tenant.slug}`, report);
  return { report, exitCode: report.ok ? 0 : 1 };
}

function printReport(res: CliResources | { out: (l: string) => void }, what: string, r: VerifyReport & { truncated?: boolean; malformedLine?: number }): void {
  if (r.ok) {
    res.out(`ok: ${what}: ${r.checkpoints} checkpoint(s), ${r.rowsVerified} row(s) verified, ${r.unsealedRows} newer row(s) not sealed yet`);
    return;
  }
  res.out(
    `FAILED: ${what}: ${r.findings[0]?.message ?? (r.malformedLine ? `line ${r.malformedLine} is not a valid export line` : r.truncated ? 'the export is cut off (no end line)' : 'verification failed')}`,
  );
  for (const f of r.findings.slice(1, 10)) res.out(`  also: ${f.message}`);
  if (r.findings.length > 10) res.out(`  … ${r.findings.length - 10} more`);
}

const keysFile = z.union([
  z.object({ keys: z.array(z.object({ kid: z.string(), x: z.string() }).loose()) }),
  z.array(z.object({ kid: z.string(), x: z.string() }).loose()),
]);

/**
 * `audit verify-export --file export.ndjson --keys audit-keys.json`: offline, no database and no
 * configuration: the export checked against the public keys the tenant saved from /t/:tenant/v1/audit-keys.
 */
export async function auditVerifyExport(out: { out: (l: string) => void }, input: { file?: string; keys?: string }): Promise<{ exitCode: number }> {
  if (!input.file) throw new UsageError('--file is required (the NDJSON export)');
  if (!input.keys) throw new UsageError('--keys is required (the JSON of GET /t/<tenant>/v1/audit-keys)');
  const parsed = keysFile.safeParse(JSON.parse(await readFile(input.keys, 'utf8')));
  if (!parsed.success) throw new UsageError('--keys: expected {"keys":[{"kid":…,"x":…},…]} as served at /t/<tenant>/v1/audit-keys');
  const keys = Array.isArray(parsed.data) ? parsed.data : parsed.data.keys;
  const lines = createInterface({ input: createReadStream(input.file, 'utf8'), crlfDelay: Infinity });
  const report = await verifyAuditExport(lines, keys);
  printReport(out, input.file, report);
  return { exitCode: report.ok ? 0 : 1 };
}
