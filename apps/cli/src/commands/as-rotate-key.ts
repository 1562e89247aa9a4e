import { rotateSigningKey } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { oidcStoreRepository, tenantsRepository } from '@mcprt/db';
import { CliError, UsageError, type CliResources } from '../resources.js';

/**
 * `as rotate-key --tenant <slug>`: a new signing key for a built-in tenant's authorization
 * server. The old key is retired, not deleted: tokens it signed keep verifying until they expire
 * (access tokens live 10 minutes). Every API replica signs with the new key within a minute and
 * verifies it at once (an unknown kid reloads the tenant's keys).
 */
export async function asRotateKey(res: CliResources, args: { tenant: string | undefined }): Promise<{ kid: string; retired: number }> {
  if (!args.tenant) throw new UsageError('--tenant is required');
  const tenant = await tenantsRepository(res.db).bySlug(args.tenant);
  if (!tenant) throw new CliError(`no tenant "${args.tenant}"`);
  if (tenant.authMode !== 'builtin') throw new CliError(`tenant "${tenant.slug}" is not in builtin mode: its tokens come from ${tenant.idpIssuer}`);
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  const result = await rotateSigningKey(tenant.id, oidcStoreRepository(res.db, tenant.id), keyring);
  res.out(`tenant ${tenant.slug}: new signing key ${result.kid}; ${result.retired} key(s) retired (still verifying until their tokens expire)`);
  return result;
}
