import { tenantsRepository } from '@mcprt/db';
import { approvalRulesSchema } from '@mcprt/policy';
import { parseSlug } from '../args.js';
import { CliError, UsageError, type CliResources } from '../resources.js';

/**
 * `tenant set-approvals`: which calls wait for a person's approval before they run. `--rules` is a
 * JSON array of `{ "tool": "<name>", "approver": "user" | "tenant", "when"?: { "argument": "<name>",
 * "equals": <string | number | boolean> } }` (first match wins); `--clear` removes them all.
 */
export async function tenantSetApprovals(res: CliResources, input: { slug?: string; rules?: string; clear?: boolean }): Promise<void> {
  const slug = parseSlug(input.slug);
  if (input.clear === (input.rules !== undefined)) throw new UsageError('give --rules <json> or --clear');
  let rules: unknown = [];
  if (input.rules !== undefined) {
    try {
      rules = JSON.parse(input.rules);
    } catch {
      throw new UsageError('--rules must be JSON: [{"tool": "echo", "approver": "user"}]');
    }
  }
  const parsed = approvalRulesSchema.safeParse(rules);
  if (!parsed.success) throw new UsageError(`--rules: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'rules'}: ${i.message}`).join('; ')}`);
  const repo = tenantsRepository(res.db);
  const tenant = await repo.bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  const unknown = parsed.data.filter((r) => !tenant.enabledTools.includes(r.tool)).map((r) => r.tool);
  if (unknown.length) throw new UsageError(`not enabled for ${slug}: ${unknown.join(', ')}`);
  await repo.setApprovalRules(tenant.id, parsed.data);
  res.out(parsed.data.length ? `tenant ${slug}: ${parsed.data.length} approval rule(s) set` : `tenant ${slug}: no call waits for approval`);
}
