import { tenantsRepository, type Tenant } from '@mcprt/db';
import { parseHttpUrl, parseSlug } from '../args.js';
import { hint, type CliResources } from '../resources.js';
import { isUniqueViolation, mcpUrlOf } from '../tenant-urls.js';
import { assertDevelopment } from './dev-token.js';

/** `dev seed`: the development tenant, created if missing (idempotent); prints its MCP URL on stdout. */
export async function devSeed(res: CliResources, input: { idp?: string; slug?: string }): Promise<{ tenant: Tenant; created: boolean; mcpUrl: string }> {
  assertDevelopment(res, 'dev seed');
  const idpIssuer = parseHttpUrl(input.idp, '--idp');
  const slug = parseSlug(input.slug ?? 'dev');
  const repo = tenantsRepository(res.db);
  const enabledTools = ['whoami', 'web_search', ...(res.config.ENABLE_TEST_TOOLS ? ['echo'] : [])];

  let tenant = await repo.bySlug(slug);
  let created = false;
  if (!tenant) {
    try {
      tenant = await repo.create({ slug, displayName: 'Development', idpIssuer, enabledTools });
      created = true;
    } catch (err) {
      if (!isUniqueViolation(err)) throw err;
      tenant = (await repo.bySlug(slug))!; // seeded concurrently
    }
  }
  if (created) hint(res, `# created tenant ${slug} (issuer ${idpIssuer}, tools ${enabledTools.join(',')})`);
  else hint(res, `# tenant ${slug} already exists (issuer ${tenant.idpIssuer}, tools ${tenant.enabledTools.join(',')}); left unchanged`);
  if (!created && tenant.idpIssuer !== idpIssuer) hint(res, `warning: its issuer is not ${idpIssuer}`);

  const mcpUrl = mcpUrlOf(res.config, slug);
  res.out(mcpUrl);
  return { tenant, created, mcpUrl };
}
