import { randomBytes } from 'node:crypto';
import { operatorStoreRow } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { oidcStoreRepository, tenantsRepository, type Tenant } from '@mcprt/db';
import { parseNonEmpty, parseSlug } from '../args.js';
import { CliError, UsageError, type CliResources } from '../resources.js';

export interface ClientCreateInput {
  tenant?: string;
  name?: string;
  redirectUris?: string[];
  /** A confidential client (client_secret_basic); default: public (PKCE only, no secret). */
  confidential?: boolean;
}

/** https, or http on a loopback address (RFC 8252 native apps). */
function parseRedirect(value: string): string {
  let u: URL;
  try {
    u = new URL(value);
  } catch {
    throw new UsageError(`--redirect-uri ${JSON.stringify(value)} is not a URL`);
  }
  const loopback = u.protocol === 'http:' && ['127.0.0.1', '[::1]', 'localhost'].includes(u.hostname);
  if (u.protocol !== 'https:' && !loopback) throw new UsageError('--redirect-uri must be https, or http on a loopback address');
  if (u.hash) throw new UsageError('--redirect-uri must not have a fragment');
  return u.href;
}

/**
 * `client create`: a pre-registered OAuth client of a built-in tenant's authorization server,
 * written as oidc-provider would store it (id hashed, metadata sealed) with no expiry — unlike dynamic
 * registrations, it does not lapse when unused. Prints the client id (and the secret of a confidential
 * client, once: it is stored only sealed).
 */
export async function clientCreate(res: CliResources, input: ClientCreateInput): Promise<{ clientId: string; clientSecret?: string }> {
  const slug = parseSlug(input.tenant, '--tenant');
  const name = parseNonEmpty(input.name, '--name');
  const redirectUris = (input.redirectUris ?? []).map(parseRedirect);
  if (redirectUris.length === 0) throw new UsageError('at least one --redirect-uri is required');
  const tenant = await builtinTenant(res, slug);
  const clientId = `mcprt_${randomBytes(16).toString('base64url')}`;
  const clientSecret = input.confidential ? randomBytes(32).toString('base64url') : undefined;
  const payload = {
    client_id: clientId,
    ...(clientSecret ? { client_secret: clientSecret } : {}),
    client_id_issued_at: Math.floor(Date.now() / 1000),
    client_name: name,
    redirect_uris: redirectUris,
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: clientSecret ? 'client_secret_basic' : 'none',
  };
  await storeClient(res, tenant.id, payload);
  res.out(`client_id ${clientId}`);
  if (clientSecret) res.out(`client_secret ${clientSecret}   (shown once; stored sealed)`);
  return { clientId, ...(clientSecret ? { clientSecret } : {}) };
}

/** A built-in tenant by slug (clients are registered only at the tenant's own authorization server). */
export async function builtinTenant(res: CliResources, slug: string): Promise<Tenant> {
  const tenant = await tenantsRepository(res.db).bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  if (tenant.authMode !== 'builtin') throw new CliError(`tenant "${slug}" is not in builtin mode: register clients at ${tenant.idpIssuer}`);
  return tenant;
}

/** Writes a client as oidc-provider stores it (id hashed, metadata sealed), with no expiry. */
export async function storeClient(res: CliResources, tenantId: string, payload: Record<string, unknown> & { client_id: string }): Promise<void> {
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  await oidcStoreRepository(res.db, tenantId).upsert(operatorStoreRow(keyring, tenantId, 'Client', payload.client_id, payload));
}
