import { forTenant } from '@mcprt/calls';
import { oidcStoreRepository, tenantsRepository } from '@mcprt/db';
import { loadSigningKeys, mintBuiltinAccessToken } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { formatScopes, toolScope } from '@mcprt/policy';
import { CONFORMANCE_TOOLS } from '@mcprt/tools';
import { parseHttpUrl, parseSlug } from '../args.js';
import { CliError, type CliResources } from '../resources.js';
import { devSeed } from './dev-seed.js';
import { assertDevelopment } from './dev-token.js';

/** The conformance tenant's one user (its tokens name it; no IdP sign-in stands behind it). */
export const CONFORMANCE_SUBJECT = 'conformance-suite';
/** Long enough for a whole conformance run (the suite takes a few minutes). */
const TOKEN_TTL_S = 3600;

/**
 * `dev conformance`: the test-only tenant whose tools are the MCP conformance suite's fixture tools
 * (in `builtin` mode: its own authorization server, signing in at the dev IdP), and an access token
 * for it. Prints exactly `MCP_URL=…` and `TOKEN=…`. Refuses production. The tenant is created only
 * with ENABLE_TEST_TOOLS=true (`ENABLE_TEST_TOOLS=true pnpm start` runs this once at start); later
 * runs only mint a token. The fixture tools exist only in a deployment with ENABLE_TEST_TOOLS (the
 * registry leaves test-only tools out otherwise), so on any other deployment the tenant has none.
 */
export async function devConformance(res: CliResources, input: { idp?: string; slug?: string }): Promise<{ mcpUrl: string; token: string }> {
  assertDevelopment(res, 'dev conformance');
  const slug = parseSlug(input.slug ?? 'conformance');
  const repo = tenantsRepository(res.db);
  const existing = await repo.bySlug(slug);
  if (!existing && !res.config.ENABLE_TEST_TOOLS)
    throw new CliError(`no tenant "${slug}": it is created with ENABLE_TEST_TOOLS=true (start with \`ENABLE_TEST_TOOLS=true pnpm start\`)`);
  const idp = input.idp ?? existing?.idpIssuer ?? (await repo.bySlug('dev'))?.idpIssuer;
  if (!idp) throw new CliError('pass --idp <dev IdP URL> (default: the issuer of the dev tenant, which `pnpm start` creates)');
  const { tenant, mcpUrl } = await devSeed(
    { ...res, out: () => undefined },
    { idp: parseHttpUrl(idp, '--idp'), slug, auth: 'builtin', tools: CONFORMANCE_TOOLS },
  );
  if (tenant.authMode !== 'builtin') throw new CliError(`tenant "${slug}" exists and is not a built-in authorization server; pick another --slug`);
  const user = await forTenant(res.db, tenant.id).users.upsert({ issuer: tenant.idpIssuer, subject: CONFORMANCE_SUBJECT });
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  const token = await mintBuiltinAccessToken(await loadSigningKeys(tenant.id, oidcStoreRepository(res.db, tenant.id), keyring), {
    issuer: `${res.config.PUBLIC_URL}/t/${tenant.slug}`,
    audience: mcpUrl,
    subject: user.id,
    scope: formatScopes(tenant.enabledTools.map(toolScope)),
    clientId: 'mcprt-dev-conformance',
    ttlSeconds: TOKEN_TTL_S,
  });
  res.out(`MCP_URL=${mcpUrl}`);
  res.out(`TOKEN=${token}`);
  return { mcpUrl, token };
}
