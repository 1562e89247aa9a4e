import { tenantsRepository } from '@mcprt/db';
import { TOOL_LISTING_MODES, type ToolListingMode } from '@mcprt/policy';
import { parseSlug } from '../args.js';
import { CliError, UsageError, type CliResources } from '../resources.js';

const isMode = (m: string | undefined): m is ToolListingMode => (TOOL_LISTING_MODES as readonly string[]).includes(m ?? '');

/**
 * `tenant set-tool-listing`: what `tools/list` shows the tenant's callers. `allowed` (the default):
 * only the tools the caller's token may call. `all_with_hints`: the others too, marked locked with the
 * scope a new sign-in would grant, for clients that offer to step up.
 */
export async function tenantSetToolListing(res: CliResources, input: { slug?: string; mode?: string }): Promise<void> {
  const slug = parseSlug(input.slug);
  if (!isMode(input.mode)) throw new UsageError(`--mode must be one of ${TOOL_LISTING_MODES.join(', ')}`);
  const repo = tenantsRepository(res.db);
  const tenant = await repo.bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  await repo.setToolListing(tenant.id, input.mode);
  res.out(
    `tenant ${slug}: tools/list shows ${input.mode === 'allowed' ? 'only the tools each caller may call' : 'every enabled tool, locked ones with the scope that unlocks them'}`,
  );
}
