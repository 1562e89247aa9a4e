import { parseNonEmpty, parseSlug } from '../args.js';
import type { CliResources } from '../resources.js';
import { mcpJson, mcpUrlOf, requireTenant, type McpJson } from '../tenant-urls.js';

/** `tenant mcp-config`: only the `.mcp.json` on stdout, so it can be redirected to a file. */
export async function tenantMcpConfig(res: CliResources, input: { slug?: string; token?: string }): Promise<McpJson> {
  const slug = parseSlug(input.slug);
  const token = input.token === undefined ? undefined : parseNonEmpty(input.token, '--token', 8192);
  const tenant = await requireTenant(res.db, slug);
  const snippet = mcpJson(tenant.slug, mcpUrlOf(res.config, tenant.slug), token);
  for (const line of JSON.stringify(snippet, null, 2).split('\n')) res.out(line);
  return snippet;
}
