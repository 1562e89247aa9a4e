import type { Config } from '@mcprt/config';
import { tenantsRepository, type Database, type Tenant } from '@mcprt/db';
import { CliError } from './resources.js';

/** The MCP resource URL of a tenant (the API's `mcpResourceUrl`; PUBLIC_URL has no trailing slash). */
export const mcpUrlOf = (config: Pick<Config, 'PUBLIC_URL'>, slug: string): string => `${config.PUBLIC_URL}/t/${slug}/mcp`;

export interface McpJson {
  mcpServers: Record<string, { type: 'http'; url: string; headers?: Record<string, string> }>;
}

/** A `.mcp.json` for one tenant; with a token, for clients that cannot do OAuth yet. */
export function mcpJson(slug: string, url: string, token?: string): McpJson {
  return { mcpServers: { [slug]: { type: 'http', url, ...(token ? { headers: { Authorization: `Bearer ${token}` } } : {}) } } };
}

export async function requireTenant(db: Database, slug: string): Promise<Tenant> {
  const tenant = await tenantsRepository(db).bySlug(slug);
  if (!tenant) throw new CliError(`no tenant with slug "${slug}" (see \`pnpm cli tenant list\`)`);
  return tenant;
}

/** Postgres unique violation (23505), possibly wrapped by Drizzle. */
export function isUniqueViolation(err: unknown): boolean {
  for (let e: unknown = err, depth = 0; e && depth < 5; e = (e as { cause?: unknown }).cause, depth++) {
    if ((e as { code?: unknown }).code === '23505') return true;
  }
  return false;
}
