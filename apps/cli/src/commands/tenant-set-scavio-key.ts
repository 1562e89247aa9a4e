import { parseKeyring, seal, sealPurposes } from '@mcprt/keyring';
import { tenantsRepository } from '@mcprt/db';
import { parseSlug } from '../args.js';
import { CliError, UsageError, type CliResources } from '../resources.js';

export interface TenantSetScavioKeyInput {
  slug?: string;
  /** From the environment (TENANT_SCAVIO_API_KEY), never from argv: command lines end up in shell history and `ps`. */
  apiKey?: string;
  /** Remove the tenant's key: web_search uses the operator's key again. */
  clear?: boolean;
}

/**
 * `tenant set-scavio-key` (issue 10): the tenant's own Scavio API key for `web_search`, sealed with the
 * keyring (purpose `scavio_api_key`, bound to the tenant) before it reaches the database, never printed.
 * With a tenant key, that tenant's searches use it (and spend its credits); without, the operator's
 * SCAVIO_API_KEY.
 */
export async function tenantSetScavioKey(res: CliResources, input: TenantSetScavioKeyInput): Promise<void> {
  const slug = parseSlug(input.slug);
  if (input.clear && input.apiKey) throw new UsageError('--clear and TENANT_SCAVIO_API_KEY together: choose one');
  if (!input.clear && !input.apiKey)
    throw new UsageError('set TENANT_SCAVIO_API_KEY in the environment (the key is never read from the command line), or pass --clear');
  if (input.apiKey !== undefined && !/^[\x21-\x7e]{8,512}$/.test(input.apiKey))
    throw new UsageError('TENANT_SCAVIO_API_KEY must be 8 to 512 visible ASCII characters');
  const repo = tenantsRepository(res.db);
  const tenant = await repo.bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  if (input.clear) {
    await repo.setScavioKey(tenant.id, null);
    res.out(`tenant ${slug}: own Scavio key removed; web_search uses the operator's key`);
    return;
  }
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  await repo.setScavioKey(tenant.id, seal(keyring, input.apiKey!, sealPurposes.scavio_api_key.context(tenant.id)));
  res.out(`tenant ${slug}: own Scavio key set (sealed under key ${keyring.activeKid}); web_search uses it for this tenant`);
}
