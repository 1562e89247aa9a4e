import { idpSecretContext } from '@mcprt/auth';
import { parseKeyring, seal } from '@mcprt/crypto';
import { tenantsRepository } from '@mcprt/db';
import { parseNonEmpty, parseSlug } from '../args.js';
import { CliError, UsageError, type CliResources } from '../resources.js';

export interface TenantSetIdpInput {
  slug?: string;
  clientId?: string;
  /** From the environment (IDP_CLIENT_SECRET), never from argv: command lines end up in shell history and `ps`. */
  clientSecret?: string;
  /** Space-separated upstream scopes (default: unchanged). */
  scopes?: string;
  /** builtin | external (default: unchanged). */
  auth?: string;
}

/**
 * `tenant set-idp` (issue 8): the client the tenant's built-in authorization server signs users in
 * with at the tenant's IdP. The secret is sealed with the keyring (purpose `idp_client_secret`, bound
 * to the tenant) before it reaches the database, and never printed. `--auth builtin` switches the
 * tenant to its own authorization server.
 */
export async function tenantSetIdp(res: CliResources, input: TenantSetIdpInput): Promise<void> {
  const slug = parseSlug(input.slug);
  const clientId = parseNonEmpty(input.clientId, '--client-id');
  if (!input.clientSecret) throw new UsageError('set IDP_CLIENT_SECRET in the environment (the secret is never read from the command line)');
  const auth = input.auth;
  if (auth !== undefined && auth !== 'builtin' && auth !== 'external') throw new UsageError('--auth must be builtin or external');
  const scopes = input.scopes?.split(/\s+/).filter(Boolean);
  if (scopes && !scopes.includes('openid')) throw new UsageError('--scopes must include openid');
  const repo = tenantsRepository(res.db);
  const tenant = await repo.bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  await repo.setIdpClient(tenant.id, {
    clientId,
    clientSecretSealed: seal(keyring, input.clientSecret, idpSecretContext(tenant.id)),
    ...(scopes ? { scopes } : {}),
  });
  if (auth) await repo.setAuthMode(tenant.id, auth);
  res.out(
    `tenant ${slug}: IdP client ${clientId} set (secret sealed under key ${keyring.activeKid})` +
      (auth ? `, auth mode ${auth}` : `, auth mode ${tenant.authMode} (unchanged)`) +
      `; redirect URI to register at the IdP: ${res.config.PUBLIC_URL}/t/${slug}/login/callback`,
  );
}
