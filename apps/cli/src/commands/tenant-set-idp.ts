import { GITHUB_API, GITHUB_WEB } from '@mcprt/providers';
import { parseKeyring, seal, sealPurposes } from '@mcprt/keyring';
import { tenantsRepository } from '@mcprt/db';
import { parseHttpUrl, parseNonEmpty, parseSlug } from '../args.js';
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
  /** oidc | google | github (default: unchanged). */
  kind?: string;
  /** The IdP's issuer (oidc), or GitHub's web base (github); defaults per kind (google: accounts.google.com, github: github.com). */
  issuer?: string;
  /** GitHub only: the REST API base (default https://api.github.com). */
  apiBase?: string;
}

export const GOOGLE_ISSUER = 'https://accounts.google.com';
const KINDS = ['oidc', 'google', 'github'] as const;
export type IdpKind = (typeof KINDS)[number];

export function parseKind(kind: string | undefined): IdpKind | undefined {
  if (kind === undefined) return undefined;
  if (!(KINDS as readonly string[]).includes(kind)) throw new UsageError('--kind must be oidc, google or github');
  return kind as IdpKind;
}

/** Scopes for a provider kind: OIDC kinds must ask for `openid` (the ID token says who signed in); GitHub has no OIDC. */
export function parseScopes(scopes: string | undefined, kind: IdpKind): string[] | undefined {
  const list = scopes?.split(/\s+/).filter(Boolean);
  if (list && kind !== 'github' && !list.includes('openid')) throw new UsageError('--scopes must include openid');
  return list;
}

/**
 * `tenant set-idp` (issue 8): the client the tenant's built-in authorization server signs users in
 * with at the tenant's IdP, and what kind of IdP it is: `oidc` (any issuer, discovery), `google`
 * (OIDC, offline access), `github` (OAuth 2 at github.com, identity from api.github.com `/user`). The
 * secret is sealed with the keyring (purpose `idp_client_secret`, bound to the tenant) before it
 * reaches the database, and never printed. `--auth builtin` switches the tenant to its own
 * authorization server.
 */
export async function tenantSetIdp(res: CliResources, input: TenantSetIdpInput): Promise<void> {
  const slug = parseSlug(input.slug);
  const clientId = parseNonEmpty(input.clientId, '--client-id');
  if (!input.clientSecret) throw new UsageError('set IDP_CLIENT_SECRET in the environment (the secret is never read from the command line)');
  const auth = input.auth;
  if (auth !== undefined && auth !== 'builtin' && auth !== 'external') throw new UsageError('--auth must be builtin or external');
  const kindIn = parseKind(input.kind);
  const repo = tenantsRepository(res.db);
  const tenant = await repo.bySlug(slug);
  if (!tenant) throw new CliError(`no tenant "${slug}"`);
  const kind = kindIn ?? parseKind(tenant.idpKind) ?? 'oidc';
  const scopes = parseScopes(input.scopes, kind);
  const issuer = input.issuer ? parseHttpUrl(input.issuer, '--issuer') : kindIn === 'google' ? GOOGLE_ISSUER : kindIn === 'github' ? GITHUB_WEB : undefined;
  const apiBase = input.apiBase ? parseHttpUrl(input.apiBase, '--api-base') : undefined;
  if (apiBase && kind !== 'github') throw new UsageError('--api-base is for --kind github only');
  if (kind === 'github' && auth === 'external') throw new UsageError('a GitHub IdP issues no tokens an MCP server can verify: use --auth builtin');
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  await repo.setIdpClient(tenant.id, {
    clientId,
    clientSecretSealed: seal(keyring, input.clientSecret, sealPurposes.idp_client_secret.context(tenant.id)),
    ...(scopes ? { scopes } : {}),
  });
  if (kindIn || issuer || apiBase)
    await repo.setIdpKind(tenant.id, { kind, ...(issuer ? { issuer } : {}), ...(kind === 'github' ? { apiBase: apiBase ?? null } : { apiBase: null }) });
  if (auth) await repo.setAuthMode(tenant.id, auth);
  res.out(
    `tenant ${slug}: ${kind} IdP${issuer ? ` ${issuer}` : ''}${kind === 'github' ? ` (API ${apiBase ?? GITHUB_API})` : ''}, client ${clientId} set (secret sealed under key ${keyring.activeKid})` +
      (auth ? `, auth mode ${auth}` : `, auth mode ${tenant.authMode} (unchanged)`) +
      `; redirect URIs to register at the IdP: ${res.config.PUBLIC_URL}/t/${slug}/login/callback and ${res.config.PUBLIC_URL}/t/${slug}/connect/idp/callback`,
  );
}
