import { tenantsRepository, type Tenant } from '@mcprt/db';
import { parseHttpUrl, parseNonEmpty, parseSlug, parseTools } from '../args.js';
import { CliError, hint, UsageError, type CliResources } from '../resources.js';
import { isUniqueViolation, mcpJson, mcpUrlOf, type McpJson } from '../tenant-urls.js';

/**
 * Tools a new tenant gets without --tools: the two that need no upstream sign-in of the tenant's own.
 * The user-data tools (email_*, calendar_read, github_*) are opted into (`--tools all` or a list) once
 * the tenant offers Google/GitHub sign-in: enabled, they appear in tools/list and in the scopes
 * clients ask for (docs/adding-a-tool.md, "Enabling a tool").
 */
export const DEFAULT_TOOLS = ['whoami', 'web_search'] as const;

export interface TenantCreateInput {
  slug?: string;
  name?: string;
  issuer?: string;
  /** Comma-separated, or `all`; default whoami,web_search. */
  tools?: string;
  /** builtin (default): the tenant is its own OAuth authorization server; external: trust the IdP's own tokens. */
  auth?: string;
}

export interface TenantCreateResult {
  tenant: Tenant;
  mcpUrl: string;
  mcpJson: McpJson;
}

/** `tenant create`: the tenant row, then its MCP URL and a ready `.mcp.json`. */
export async function tenantCreate(res: CliResources, input: TenantCreateInput): Promise<TenantCreateResult> {
  const slug = parseSlug(input.slug);
  const displayName = parseNonEmpty(input.name ?? slug, '--name');
  const idpIssuer = parseHttpUrl(input.issuer, '--issuer');
  const enabledTools = parseTools(input.tools, { includeTestTools: res.config.ENABLE_TEST_TOOLS, fallback: DEFAULT_TOOLS });
  const authMode = input.auth ?? 'builtin';
  if (authMode !== 'builtin' && authMode !== 'external') throw new UsageError('--auth must be builtin or external');
  if (idpIssuer.startsWith('http://') && !res.config.ALLOW_INSECURE_ISSUERS) {
    hint(res, `warning: the API refuses http:// issuers unless ALLOW_INSECURE_ISSUERS=true (development only)`);
  }

  const repo = tenantsRepository(res.db);
  const duplicate = () => new CliError(`a tenant with slug "${slug}" already exists; pick another --slug (see \`pnpm cli tenant list\`)`);
  if (await repo.bySlug(slug)) throw duplicate();
  let tenant: Tenant;
  try {
    tenant = await repo.create({ slug, displayName, idpIssuer, enabledTools, authMode });
  } catch (err) {
    if (isUniqueViolation(err)) throw duplicate(); // created concurrently since the check
    throw err;
  }

  const mcpUrl = mcpUrlOf(res.config, slug);
  const snippet = mcpJson(slug, mcpUrl);
  res.out(`created tenant ${slug} ("${displayName}"), issuer ${idpIssuer}, tools ${enabledTools.join(',')}, auth mode ${authMode}`);
  res.out(`MCP URL: ${mcpUrl}`);
  if (authMode === 'builtin') {
    res.out(
      `Next, the client this tenant signs users in with at ${idpIssuer} (redirect URIs ${res.config.PUBLIC_URL}/t/${slug}/login/callback and …/connect/idp/callback):`,
    );
    res.out(`  IDP_CLIENT_SECRET=… pnpm cli tenant set-idp --slug ${slug} --client-id <id> [--kind oidc|google|github]`);
  }
  res.out('');
  res.out('.mcp.json:');
  for (const line of JSON.stringify(snippet, null, 2).split('\n')) res.out(line);
  res.out('');
  res.out('# Clients that cannot do OAuth yet can send a token instead: add to the server entry');
  res.out('#   "headers": { "Authorization": "Bearer <token>" }');
  res.out(`# (\`pnpm cli tenant mcp-config --slug ${slug} --token <token>\` prints it that way).`);
  return { tenant, mcpUrl, mcpJson: snippet };
}
