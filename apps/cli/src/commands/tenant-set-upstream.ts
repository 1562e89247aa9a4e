import { GITHUB_WEB } from '@mcprt/providers';
import { parseKeyring, seal, sealPurposes } from '@mcprt/keyring';
import { tenantsRepository } from '@mcprt/db';
import { parseHttpUrl, parseNonEmpty, parseSlug } from '../args.js';
import { CliError, UsageError, type CliResources } from '../resources.js';
import { GOOGLE_ISSUER, parseKind, parseScopes } from './tenant-set-idp.js';

export interface TenantSetUpstreamInput {
  slug?: string;
  /** The name in connect links and credentials: `github`, `google`, or another lowercase name (not `idp`). */
  provider?: string;
  kind?: string;
  issuer?: string;
  apiBase?: string;
  clientId?: string;
  /** From the environment (UPSTREAM_CLIENT_SECRET), never from argv. */
  clientSecret?: string;
  scopes?: string;
}

const PROVIDER = /^[a-z][a-z0-9_-]{0,31}$/;

/**
 * `tenant set-upstream` (issue 8 §8): a provider the tenant's signed-in users can connect for tools
 * that need it (`/t/{slug}/connect/{provider}`), besides the login IdP. The secret is sealed (purpose
 * `upstream_client_secret`, bound to tenant and provider) and never printed.
 */
export async function tenantSetUpstream(res: CliResources, input: TenantSetUpstreamInput): Promise<void> {
  const slug = parseSlug(input.slug);
  const provider = parseNonEmpty(input.provider, '--provider');
  if (!PROVIDER.test(provider) || provider === 'idp')
    throw new UsageError('--provider must be a lowercase name such as github or google (idp is the login IdP: use tenant set-idp)');
  const kind = parseKind(input.kind ?? (provider === 'github' || provider === 'google' ? provider : undefined));
  if (!kind) throw new UsageError('--kind is required (oidc, google or github)');
  const clientId = parseNonEmpty(input.clientId, '--client-id');
  if (!input.clientSecret) throw new UsageError('set UPSTREAM_CLIENT_SECRET in the environment (the secret is never read from the command line)');
  const scopes = parseScopes(input.scopes, kind) ?? (kind === 'github' ? ['read:user'] : ['openid', 'email']);
  const issuer = input.issuer ? parseHttpUrl(input.issuer, '--issuer') : kind === 'google' ? GOOGLE_ISSUER : kind === 'github' ? GITHUB_WEB : undefined;
  if (!issuer) throw new UsageError('--issuer is required for --kind oidc');
  const apiBase = input.apiBase ? parseHttpUrl(input.apiBase, '--api-base') : undefined;
  if (apiBase && kind !== 'github') throw new UsageError('--api-base is for --kind github only');
  const repo = tenantsRepository(res.db);
  const tenant = await repo.bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  await repo.setUpstream(tenant.id, provider, {
    kind,
    issuer,
    ...(apiBase ? { apiBase } : {}),
    clientId,
    clientSecretSealed: seal(keyring, input.clientSecret, sealPurposes.upstream_client_secret.context(tenant.id, provider)),
    scopes,
  });
  res.out(
    `tenant ${slug}: users can connect ${provider} (${kind} at ${issuer}, client ${clientId}, secret sealed under key ${keyring.activeKid}); ` +
      `redirect URI to register there: ${res.config.PUBLIC_URL}/t/${slug}/connect/${provider}/callback`,
  );
}
