import { randomBytes } from 'node:crypto';
import { tenantsRepository, type EnterpriseIdp } from '@mcprt/db';
import { enterpriseIdpSchema, JWT_BEARER_GRANT } from '@mcprt/identity';
import { parseNonEmpty, parseSlug } from '../args.js';
import { UsageError, type CliResources } from '../resources.js';
import { builtinTenant, storeClient } from './client-create.js';

export interface TenantTrustIdpInput {
  slug?: string;
  issuer?: string;
  jwksUri?: string;
  /** Client ids at the tenant's authorization server that may redeem this IdP's ID-JAGs. */
  clientIds?: string[];
  /** Stop trusting the issuer. */
  remove?: boolean;
}

/**
 * `tenant trust-idp`: the tenant's authorization server accepts ID-JAGs (the MCP
 * enterprise-managed-authorization extension) from this enterprise IdP — signed with a key of its
 * JWKS, for the listed clients only. Replaces the entry of the same issuer; `--remove` drops it.
 */
export async function tenantTrustIdp(res: CliResources, input: TenantTrustIdpInput): Promise<EnterpriseIdp[]> {
  const slug = parseSlug(input.slug);
  const tenant = await builtinTenant(res, slug);
  const issuer = parseNonEmpty(input.issuer, '--issuer');
  const others = tenant.enterpriseIdps.filter((t) => t.issuer !== issuer);
  let next = others;
  if (!input.remove) {
    const parsed = enterpriseIdpSchema.safeParse({ issuer, jwksUri: input.jwksUri, clientIds: input.clientIds ?? [] });
    if (!parsed.success) {
      const issue = parsed.error.issues[0]!;
      throw new UsageError(`--${flagOf(String(issue.path[0] ?? 'issuer'))}: ${issue.message}`);
    }
    next = [...others, parsed.data];
  }
  await tenantsRepository(res.db).setEnterpriseIdps(tenant.id, next);
  res.out(input.remove ? `tenant ${slug}: no longer trusts ${issuer}` : `tenant ${slug}: trusts ID-JAGs of ${issuer} for ${input.clientIds!.join(', ')}`);
  return next;
}

const flagOf = (field: string) => ({ issuer: 'issuer', jwksUri: 'jwks-uri', clientIds: 'client-id' })[field] ?? field;

/**
 * `client create-enterprise`: a confidential client (client_secret_basic) of a built-in tenant that
 * redeems ID-JAGs with the `jwt-bearer` grant; name it in `tenant trust-idp --client-id`.
 */
export async function enterpriseClientCreate(
  res: CliResources,
  input: { tenant?: string; name?: string },
): Promise<{ clientId: string; clientSecret: string }> {
  const tenant = await builtinTenant(res, parseSlug(input.tenant, '--tenant'));
  const name = parseNonEmpty(input.name, '--name');
  const clientId = `mcprt_${randomBytes(16).toString('base64url')}`;
  const clientSecret = randomBytes(32).toString('base64url');
  await storeClient(res, tenant.id, {
    client_id: clientId,
    client_secret: clientSecret,
    client_id_issued_at: Math.floor(Date.now() / 1000),
    client_name: name,
    redirect_uris: [],
    grant_types: [JWT_BEARER_GRANT],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_basic',
  });
  res.out(`client_id ${clientId}`);
  res.out(`client_secret ${clientSecret}   (shown once; stored sealed)`);
  return { clientId, clientSecret };
}
