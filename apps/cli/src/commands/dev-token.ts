import { credentialVault } from '@mcprt/providers';
import { loadSigningKeys, mintBuiltinAccessToken } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { forTenant } from '@mcprt/calls';
import { oidcStoreRepository } from '@mcprt/db';
import { parseHttpUrl, parseNonEmpty, parseScope, parseSlug } from '../args.js';
import { CliError, hint, type CliResources } from '../resources.js';
import { mcpUrlOf, requireTenant } from '../tenant-urls.js';
import { loadDevIdp } from '../dev-idp.js';
import { formatScopes, parseScopes, toolScope } from '@mcprt/policy';

export interface DevTokenInput {
  tenant?: string;
  user?: string;
  /** The running dev IdP; default the tenant's issuer. */
  idp?: string;
  /** Default: `tools:<name>` for each tool the tenant enables. */
  scope?: string;
}

export interface DevTokenResources extends CliResources {
  fetch?: typeof fetch;
}

interface MintResponse {
  access_token: string;
  upstream: { access_token: string; refresh_token?: string | null; expires_at: string; scope: string };
}

const isMintResponse = (v: unknown): v is MintResponse => {
  const r = v as Partial<MintResponse> | null;
  const u = r?.upstream as Partial<MintResponse['upstream']> | undefined;
  return (
    typeof r?.access_token === 'string' &&
    typeof u?.access_token === 'string' &&
    typeof u.expires_at === 'string' &&
    !Number.isNaN(Date.parse(u.expires_at)) &&
    typeof u.scope === 'string' &&
    (u.refresh_token === undefined || u.refresh_token === null || typeof u.refresh_token === 'string')
  );
};

export const assertDevelopment = (res: CliResources, command: string): void => {
  if (res.config.NODE_ENV === 'production') throw new CliError(`\`${command}\` is for development only and refuses to run with NODE_ENV=production`);
};

/**
 * `dev token`: an MCP access token for a dev IdP user, on stdout only (`TOKEN=$(pnpm cli dev token …)`).
 * It also does what the sign-in flow will do later: the user exists and their upstream IdP token is
 * in the credential vault, so tools that call the IdP (whoami) work with the token.
 */
export async function devToken(res: DevTokenResources, input: DevTokenInput): Promise<{ accessToken: string; userId: string; credentialId: string }> {
  assertDevelopment(res, 'dev token');
  const slug = parseSlug(input.tenant, '--tenant');
  const subject = parseNonEmpty(input.user, '--user');
  const tenant = await requireTenant(res.db, slug);
  const idp = parseHttpUrl(input.idp ?? tenant.idpIssuer, '--idp').replace(/\/+$/, '');
  const scope = input.scope !== undefined ? parseScope(input.scope) : formatScopes(tenant.enabledTools.map(toolScope));
  if (!scope) throw new CliError(`tenant "${slug}" enables no tools; pass --scope`);
  if (idp !== tenant.idpIssuer.replace(/\/+$/, '')) {
    hint(res, `warning: --idp ${idp} is not the tenant's issuer ${tenant.idpIssuer}; the API will reject its tokens`);
  }
  const audience = mcpUrlOf(res.config, tenant.slug);

  const { DEV_MINT_PATH } = await loadDevIdp();
  const endpoint = idp + DEV_MINT_PATH;
  let response: Response;
  try {
    response = await (res.fetch ?? fetch)(endpoint, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json' },
      body: JSON.stringify({ sub: subject, audience, scope }),
      signal: AbortSignal.timeout(10_000),
    });
  } catch (err) {
    const why = (err as { cause?: { code?: string } }).cause?.code ?? (err as Error).name;
    throw new CliError(`could not reach the dev IdP at ${endpoint} (${why}); is it running?`);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const description = (body as { error_description?: unknown } | undefined)?.error_description;
    throw new CliError(`the dev IdP refused to mint (HTTP ${response.status}${typeof description === 'string' ? `: ${description}` : ''})`);
  }
  if (!isMintResponse(body)) throw new CliError(`unexpected answer from ${endpoint}: is that a dev IdP?`);

  const tenantScope = forTenant(res.db, tenant.id);
  const user = await tenantScope.users.upsert({ issuer: tenant.idpIssuer, subject });
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  const vault = credentialVault(keyring);
  const credential = await vault.store(tenantScope, user.id, 'idp', {
    accessToken: body.upstream.access_token,
    refreshToken: body.upstream.refresh_token ?? null,
    expiresAt: new Date(body.upstream.expires_at),
    scopes: parseScopes(body.upstream.scope),
  });

  // A built-in tenant's tokens come from its own authorization server: sign one as it would, for
  // the user just stored (`sub` = our user id), instead of the IdP's token.
  const accessToken =
    tenant.authMode === 'builtin'
      ? await mintBuiltinAccessToken(await loadSigningKeys(tenant.id, oidcStoreRepository(res.db, tenant.id), keyring), {
          issuer: `${res.config.PUBLIC_URL}/t/${tenant.slug}`,
          audience,
          subject: user.id,
          scope,
          clientId: 'mcprt-dev-token',
        })
      : body.access_token;
  res.out(accessToken);
  hint(res, `# MCP access token for ${subject} on tenant ${slug} (scope "${scope}"); upstream IdP token stored for the tools.`);
  hint(res, `# Use it as "Authorization: Bearer <token>" against ${audience}, or: pnpm cli tenant mcp-config --slug ${slug} --token "$TOKEN"`);
  return { accessToken, userId: user.id, credentialId: credential.id };
}
