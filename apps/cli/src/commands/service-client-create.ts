import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { HISTORY_SCOPES, parseScopes, toolScope } from '@mcprt/policy';
import { z } from 'zod';
import { parseNonEmpty, parseSlug } from '../args.js';
import { UsageError, type CliResources } from '../resources.js';
import { builtinTenant, storeClient } from './client-create.js';

export const SERVICE_AUTH_METHODS = ['client_secret_basic', 'client_secret_post', 'private_key_jwt'] as const;
export type ServiceAuthMethod = (typeof SERVICE_AUTH_METHODS)[number];

export interface ServiceClientCreateInput {
  tenant?: string;
  name?: string;
  /** Space-separated tool scopes (`tools:<name>`, each an enabled tool of the tenant) and history scopes. */
  scope?: string;
  auth?: string;
  /** private_key_jwt: a JWKS (JSON text) with the client's public keys. */
  jwks?: string;
}

/** A public JWK: no private parts (`d`, `p`, `q`, `dp`, `dq`, `qi`, `k`). */
const publicJwk = z
  .looseObject({ kty: z.enum(['EC', 'RSA', 'OKP']), kid: z.string().max(200).optional() })
  .refine((k) => !['d', 'p', 'q', 'dp', 'dq', 'qi', 'k'].some((f) => f in k), 'a JWK with private parts: give the public keys only');
const jwksSchema = z.object({ keys: z.array(publicJwk).min(1).max(10) });

/** `--jwks @file.json` reads the file; anything else is the JSON itself. */
export function parseJwks(value: string | undefined): { keys: Record<string, unknown>[] } {
  if (!value) throw new UsageError('--jwks is required for private_key_jwt (the public keys, JSON text or @file)');
  let json: unknown;
  try {
    json = JSON.parse(value.startsWith('@') ? readFileSync(value.slice(1), 'utf8') : value);
  } catch {
    throw new UsageError('--jwks is not JSON (or its @file cannot be read)');
  }
  const parsed = jwksSchema.safeParse(json);
  if (!parsed.success) throw new UsageError(`--jwks: ${parsed.error.issues[0]?.message ?? 'invalid'} (a JWKS: {"keys": [public JWKs]})`);
  return parsed.data;
}

/**
 * `client create-service`: a machine client of a built-in tenant (OAuth `client_credentials`, the MCP
 * `io.modelcontextprotocol/oauth-client-credentials` extension). Its tokens name the service principal
 * `svc:<client_id>` and carry at most the scopes given here (and only while the tenant enables those
 * tools). Stored like every pre-registered client (id hashed, metadata sealed, no expiry); the secret
 * is printed once.
 */
export async function serviceClientCreate(res: CliResources, input: ServiceClientCreateInput): Promise<{ clientId: string; clientSecret?: string }> {
  const slug = parseSlug(input.tenant, '--tenant');
  const name = parseNonEmpty(input.name, '--name');
  const auth = (input.auth ?? 'client_secret_basic') as ServiceAuthMethod;
  if (!SERVICE_AUTH_METHODS.includes(auth)) throw new UsageError(`--auth must be one of ${SERVICE_AUTH_METHODS.join(', ')}`);
  const jwks = auth === 'private_key_jwt' ? parseJwks(input.jwks) : undefined;
  if (auth !== 'private_key_jwt' && input.jwks) throw new UsageError('--jwks goes with --auth private_key_jwt only');
  const tenant = await builtinTenant(res, slug);
  const scopes = parseScopes(parseNonEmpty(input.scope, '--scope'));
  const allowed = new Set([...tenant.enabledTools.map(toolScope), ...HISTORY_SCOPES.map((h) => h.scope)]);
  const unknown = scopes.filter((s) => !allowed.has(s));
  if (unknown.length > 0)
    throw new UsageError(`--scope: ${unknown.join(', ')} is not a scope of this tenant (tools:<enabled tool>, calls:read, calls:cancel, audit:read)`);
  const clientId = `mcprt_svc_${randomBytes(16).toString('base64url')}`;
  const clientSecret = jwks ? undefined : randomBytes(32).toString('base64url');
  await storeClient(res, tenant.id, {
    client_id: clientId,
    ...(clientSecret ? { client_secret: clientSecret } : { jwks }),
    client_id_issued_at: Math.floor(Date.now() / 1000),
    client_name: name,
    redirect_uris: [],
    grant_types: ['client_credentials'],
    response_types: [],
    token_endpoint_auth_method: auth,
    mcprt_service_scopes: scopes.join(' '),
  });
  res.out(`client_id ${clientId}`);
  res.out(`principal svc:${clientId}   scopes ${scopes.join(' ')}`);
  if (clientSecret) res.out(`client_secret ${clientSecret}   (shown once; stored sealed)`);
  return { clientId, ...(clientSecret ? { clientSecret } : {}) };
}
