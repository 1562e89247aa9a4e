import { generateApiKey } from '@mcprt/identity';
import { API_KEY_SCOPES, formatScopes, isApiKeyScope, parseScopes as parseScopeList, unionScopes } from '@mcprt/policy';
import { apiKeysRepository, tenantsRepository, type Tenant, type TenantApiKey } from '@mcprt/db';
import { parseNonEmpty, parseSlug } from '../args.js';
import { CliError, hint, UsageError, type CliResources } from '../resources.js';

/** `tenant api-key create|list|revoke`: the tenant's back-office keys. */

async function tenantOf(res: CliResources, slug: string | undefined): Promise<Tenant> {
  const s = parseSlug(slug);
  const tenant = await tenantsRepository(res.db).bySlug(s);
  if (!tenant) throw new CliError(`no tenant "${s}" (see \`pnpm cli tenant list\`)`);
  return tenant;
}

function parseScopes(value: string | undefined): string[] {
  if (!value) throw new UsageError(`--scopes is required: a comma-separated subset of ${formatScopes(API_KEY_SCOPES, 'comma')}`);
  const scopes = unionScopes(parseScopeList(value, 'comma'));
  const unknown = scopes.filter((s) => !isApiKeyScope(s));
  if (unknown.length || scopes.length === 0)
    throw new UsageError(`--scopes: unknown scope ${unknown.map((s) => JSON.stringify(s)).join(', ')}; allowed: ${API_KEY_SCOPES.join(', ')}`);
  return scopes;
}

export async function apiKeyCreate(res: CliResources, input: { slug?: string; scopes?: string; name?: string }): Promise<{ key: string; id: string }> {
  const scopes = parseScopes(input.scopes);
  const name = parseNonEmpty(input.name ?? 'back office', '--name', 100);
  const tenant = await tenantOf(res, input.slug);
  const k = generateApiKey();
  await apiKeysRepository(res.db, tenant.id).create({ id: k.id, name, secretHash: k.secretHash, scopes });
  // The key itself goes to stdout alone (capturable); it is not stored and cannot be shown again.
  res.out(k.key);
  hint(res, `created API key ${k.id} for tenant ${tenant.slug} (scopes ${formatScopes(scopes, 'comma')}); it is shown only now — store it as a secret`);
  return { key: k.key, id: k.id };
}

export async function apiKeyList(res: CliResources, input: { slug?: string }): Promise<TenantApiKey[]> {
  const tenant = await tenantOf(res, input.slug);
  const keys = await apiKeysRepository(res.db, tenant.id).list();
  if (keys.length === 0) hint(res, `tenant ${tenant.slug} has no API keys`);
  for (const k of keys) {
    const state = k.revokedAt ? `revoked ${k.revokedAt.toISOString()}` : 'active';
    res.out(
      `${k.id}  ${state}  scopes=${formatScopes(k.scopes, 'comma')}  last_used=${k.lastUsedAt?.toISOString() ?? 'never'}  created=${k.createdAt.toISOString()}  ${k.name}`,
    );
  }
  return keys;
}

export async function apiKeyRevoke(res: CliResources, input: { slug?: string; id?: string }): Promise<void> {
  if (!input.id || !/^ak[a-z2-7]{16}$/.test(input.id)) throw new UsageError('--id is required: the key id shown by `tenant api-key list` (ak…)');
  const tenant = await tenantOf(res, input.slug);
  if (!(await apiKeysRepository(res.db, tenant.id).revoke(input.id))) throw new CliError(`tenant ${tenant.slug} has no active API key ${input.id}`);
  res.out(`revoked API key ${input.id} of tenant ${tenant.slug}; it is refused from now on`);
}
