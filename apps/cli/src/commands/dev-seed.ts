import { parseKeyring, seal, sealPurposes } from '@mcprt/keyring';
import { tenantsRepository, type Tenant } from '@mcprt/db';
import { CONFORMANCE_TOOLS, createToolRegistry } from '@mcprt/tools';
import { parseHttpUrl, parseSlug } from '../args.js';
import { hint, UsageError, type CliResources } from '../resources.js';
import { isUniqueViolation, mcpUrlOf } from '../tenant-urls.js';
import { loadDevIdp } from '../dev-idp.js';
import { assertDevelopment } from './dev-token.js';

/** `dev seed`: the development tenant, created if missing (idempotent); prints its MCP URL on stdout. */
export async function devSeed(
  res: CliResources,
  input: { idp?: string; slug?: string; auth?: string; tools?: readonly string[] },
): Promise<{ tenant: Tenant; created: boolean; mcpUrl: string }> {
  assertDevelopment(res, 'dev seed');
  const idpIssuer = parseHttpUrl(input.idp, '--idp');
  const slug = parseSlug(input.slug ?? 'dev');
  const repo = tenantsRepository(res.db);
  // Development: every tool this deployment offers (echo only with ENABLE_TEST_TOOLS), so the user-data tools can be tried at once;
  // the conformance suite's fixture tools belong to its own tenant (`dev conformance`).
  const enabledTools = input.tools
    ? [...input.tools]
    : createToolRegistry({ includeTestTools: res.config.ENABLE_TEST_TOOLS })
        .names()
        .filter((n) => !CONFORMANCE_TOOLS.includes(n));

  let tenant = await repo.bySlug(slug);
  let created = false;
  if (!tenant) {
    try {
      // Created external (its tokens come from the dev IdP, as `dev token` and the benchmark use);
      // `--auth builtin` below turns it into its own authorization server with the dev login client.
      tenant = await repo.create({ slug, displayName: 'Development', idpIssuer, enabledTools, authMode: 'external' });
      created = true;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      tenant = (await repo.bySlug(slug))!; // seeded concurrently
    }
  }
  if (created) hint(res, `# created tenant ${slug} (issuer ${idpIssuer}, tools ${enabledTools.join(',')})`);
  else if (tenant.idpIssuer !== idpIssuer) {
    // Development only: the dev tenant follows the dev IdP this run started (another port, another
    // checkout's run), or every token it mints would be refused.
    await repo.setIssuer(tenant.id, idpIssuer);
    hint(res, `# tenant ${slug} already exists; its issuer was ${tenant.idpIssuer}, now ${idpIssuer}`);
    tenant = (await repo.byId(tenant.id))!;
  } else hint(res, `# tenant ${slug} already exists (issuer ${tenant.idpIssuer}, tools ${tenant.enabledTools.join(',')}); left unchanged`);

  if (input.auth !== undefined && input.auth !== 'builtin' && input.auth !== 'external') throw new UsageError('--auth must be builtin or external');
  // `--auth builtin` (pnpm start): the tenant is its own authorization server, signing users in at the
  // dev IdP with its development login client. An existing external dev tenant of the same IdP is switched.
  if (input.auth === 'builtin' && tenant.authMode !== 'builtin' && tenant.idpIssuer === idpIssuer) {
    const { DEV_LOGIN_CLIENT } = await loadDevIdp();
    const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
    await repo.setIdpClient(tenant.id, {
      clientId: DEV_LOGIN_CLIENT.clientId,
      clientSecretSealed: seal(keyring, DEV_LOGIN_CLIENT.clientSecret, sealPurposes.idp_client_secret.context(tenant.id)),
      scopes: ['openid', 'email', 'profile', 'offline_access'],
    });
    await repo.setAuthMode(tenant.id, 'builtin');
    tenant = (await repo.byId(tenant.id))!;
    hint(res, `# tenant ${slug} signs users in itself (built-in authorization server, login at ${idpIssuer})`);
  }

  const mcpUrl = mcpUrlOf(res.config, slug);
  res.out(mcpUrl);
  return { tenant, created, mcpUrl };
}
