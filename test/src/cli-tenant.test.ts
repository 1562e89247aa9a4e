import type { Config } from '@mcprt/config';
import { createDb, tenantsRepository, type DbHandle } from '@mcprt/db';
import { CliError, type CliResources, tenantCreate, tenantList, tenantMcpConfig, UsageError } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './harness/cli-process.js';
import { configFrom, namespace, testEnv } from './harness/test-config.js';
import { cloneDatabase, type TestDatabase } from './harness/test-database.js';

/** The `.mcp.json` block of `tenant create`'s output: from the line after `.mcp.json:` to the closing brace. */
function jsonBlock(lines: string[]): unknown {
  const start = lines.indexOf('.mcp.json:') + 1;
  const end = lines.indexOf('}', start);
  expect(start).toBeGreaterThan(0);
  expect(end).toBeGreaterThan(start);
  return JSON.parse(lines.slice(start, end + 1).join('\n'));
}

describe('cli: tenant commands', () => {
  let database: TestDatabase;
  let db: DbHandle;
  let env: Record<string, string>;
  let config: Config;
  const lines: string[] = [];
  const notes: string[] = [];
  const res = (): CliResources => ({ db: db.db, config, out: (l) => lines.push(l), err: (l) => notes.push(l) });

  beforeAll(async () => {
    database = await cloneDatabase('cli-tenant');
    env = testEnv({ port: 3999, queuePrefix: namespace('cli-tenant').queuePrefix, databaseUrl: database.appUrl });
    config = configFrom(env);
    db = createDb(config.DATABASE_URL, { max: 2 });
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('tenant create stores the tenant and prints its MCP URL and a valid .mcp.json', async () => {
    const { slug } = namespace('cli-tenant');
    lines.length = 0;
    const result = await tenantCreate(res(), { slug, name: 'Acme Corp', issuer: 'https://idp.example.com' });
    const url = `http://127.0.0.1:3999/t/${slug}/mcp`;

    expect(result.mcpUrl).toBe(url);
    expect(lines).toContain(`MCP URL: ${url}`);
    expect(jsonBlock(lines)).toEqual({ mcpServers: { [slug]: { type: 'http', url } } });
    // The note for clients without OAuth is a comment, not part of the JSON.
    expect(lines.filter((l) => l.includes('"Authorization": "Bearer <token>"')).every((l) => l.startsWith('#'))).toBe(true);

    const row = await tenantsRepository(db.db).bySlug(slug);
    expect(row).toMatchObject({ displayName: 'Acme Corp', idpIssuer: 'https://idp.example.com', enabledTools: ['whoami', 'web_search'] });
    // New tenants are their own authorization server; the next step is printed.
    expect(row!.authMode).toBe('builtin');
    expect(lines.some((l) => l.includes(`tenant set-idp --slug ${slug}`))).toBe(true);

    lines.length = 0;
    await tenantList(res());
    const line = lines.find((l) => l.startsWith(`${slug} `));
    expect(line).toBeDefined();
    expect(line!.split(/\s+/)).toEqual([slug, 'https://idp.example.com', 'whoami,web_search', url]);

    lines.length = 0;
    const withToken = await tenantMcpConfig(res(), { slug, token: 'tok123' });
    expect(withToken).toEqual({ mcpServers: { [slug]: { type: 'http', url, headers: { Authorization: 'Bearer tok123' } } } });
    expect(JSON.parse(lines.join('\n'))).toEqual(withToken); // stdout is the JSON alone, ready for `> .mcp.json`
  });

  it('--auth external keeps the external mode (the IdP issues the MCP tokens); anything else is refused', async () => {
    const { slug } = namespace('cli-tenant-ext');
    const { tenant } = await tenantCreate(res(), { slug, issuer: 'https://idp.example.com', auth: 'external' });
    expect(tenant.authMode).toBe('external');
    await expect(tenantCreate(res(), { slug: namespace('cli-tenant-bad').slug, issuer: 'https://idp.example.com', auth: 'both' })).rejects.toThrow(
      /builtin or external/,
    );
  });

  it('--tools takes any registered tool; echo only where test tools are enabled', async () => {
    const { slug } = namespace('cli-tenant');
    const { tenant } = await tenantCreate(res(), { slug, issuer: 'https://idp.example.com', tools: 'echo, whoami,echo' });
    expect(tenant.enabledTools).toEqual(['echo', 'whoami']);
    expect(tenant.displayName).toBe(slug);

    const prod = { ...res(), config: { ...config, ENABLE_TEST_TOOLS: false } };
    await expect(tenantCreate(prod, { slug: namespace('cli-tenant').slug, issuer: 'https://idp.example.com', tools: 'echo' })).rejects.toThrow(
      /unknown tool "echo"; available: whoami, web_search/,
    );
  });

  it('a duplicate slug fails with a clear message and changes nothing', async () => {
    const { slug } = namespace('cli-tenant');
    await tenantCreate(res(), { slug, issuer: 'https://idp.example.com' });
    const err = await tenantCreate(res(), { slug, name: 'Other', issuer: 'https://other.example.com' }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CliError);
    expect((err as Error).message).toBe(`a tenant with slug "${slug}" already exists; pick another --slug (see \`pnpm cli tenant list\`)`);
    expect((await tenantsRepository(db.db).bySlug(slug))!.idpIssuer).toBe('https://idp.example.com');
  });

  it.each([
    [{ slug: 'Acme' }, /--slug "Acme" is invalid/],
    [{ slug: '-acme' }, /--slug "-acme" is invalid/],
    [{ slug: 'a'.repeat(64) }, /--slug .* is invalid/],
    [{ slug: 'ac me' }, /--slug "ac me" is invalid/],
    [{ slug: undefined }, /--slug is required/],
    [{ issuer: 'not a url' }, /--issuer must be an absolute URL/],
    [{ issuer: 'ftp://idp.example.com' }, /--issuer must be an http\(s\) URL/],
    [{ issuer: undefined }, /--issuer is required/],
    [
      { tools: 'whoami,delete_everything' },
      /unknown tool "delete_everything"; available: whoami, web_search, email_search, email_read, calendar_read, github_repos, github_search_code, github_read_file, echo/,
    ],
    [{ tools: ' , ' }, /--tools needs at least one tool name/],
  ])('rejects bad input %o', async (patch, message) => {
    const slug = namespace('cli-tenant').slug;
    const input = { slug, issuer: 'https://idp.example.com', ...patch };
    const err = await tenantCreate(res(), input).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UsageError);
    expect((err as Error).message).toMatch(message);
    expect(await tenantsRepository(db.db).bySlug(slug)).toBeUndefined();
  });

  it('tenant mcp-config names an unknown tenant', async () => {
    await expect(tenantMcpConfig(res(), { slug: namespace('cli-tenant').slug })).rejects.toThrow(/no tenant with slug/);
  });

  it('main: exit 0 on success, 1 on a duplicate slug, 2 on bad input, with the message on stderr', async () => {
    const { slug } = namespace('cli-tenant');
    const args = ['tenant', 'create', '--slug', slug, '--issuer', 'https://idp.example.com', '--name', 'Acme'];
    // Independent runs in parallel (each start of tsx takes a while); the duplicate needs the first.
    const [ok, bad, unknownFlag, noConfig] = await Promise.all([
      runCli(args, env),
      runCli(['tenant', 'create', '--slug', 'Bad_Slug', '--issuer', 'https://idp.example.com'], env),
      runCli(['tenant', 'create', '--slugg', 'x'], env),
      runCli(['tenant', 'list'], { ...env, SEAL_KEYS: '' }),
    ]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toContain(`MCP URL: http://127.0.0.1:3999/t/${slug}/mcp`);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('error: --slug "Bad_Slug" is invalid');
    expect(unknownFlag.code).toBe(2);
    expect(unknownFlag.stderr).toMatch(/Unknown option '--slugg'/);
    expect(noConfig.code).toBe(1);
    expect(noConfig.stderr).toContain('SEAL_KEYS');

    const dup = await runCli(args, env);
    expect(dup.code).toBe(1);
    expect(dup.stderr).toContain(`error: a tenant with slug "${slug}" already exists`);
  });
});
