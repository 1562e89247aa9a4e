import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { CliError, type CliResources, devSeed, devToken, mcpCall } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';
import { namespace } from './harness/test-config.js';

const claims = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;

/** `dev token` stands in for the sign-in flow: its token works against the API, and whoami can reach the IdP. */
describe('cli: dev token and dev seed against a running dev IdP and API', () => {
  let s: Stack;
  const out: string[] = [];
  const notes: string[] = [];
  const res = (): CliResources => ({ db: s.db.db, config: s.config, out: (l) => out.push(l), err: (l) => notes.push(l) });

  beforeAll(async () => {
    s = await startStack({ label: 'cli-dev', auth: 'external' });
  });
  afterAll(() => s?.close());

  it('prints only the MCP access token; the token and the stored upstream credential make whoami work', async () => {
    out.length = 0;
    const { accessToken, userId } = await devToken(res(), { tenant: s.tenant.slug, user: 'alice' });
    expect(out).toEqual([accessToken]);
    expect(notes.join('\n')).not.toContain(accessToken);
    expect(claims(accessToken)).toMatchObject({ sub: 'alice', aud: s.mcpUrl, iss: s.idp.issuer, scope: 'tools:whoami tools:web_search tools:echo' });

    const user = (await s.scope.users.bySubject(s.idp.issuer, 'alice'))!;
    expect(user.id).toBe(userId);
    const cred = (await s.scope.credentials.get(userId, 'idp'))!;
    expect(cred.accessTokenSealed).toMatch(/^v1\.k1\./); // sealed under the active key
    expect(s.vault.openAccessToken(cred, cred.accessTokenSealed)).toMatch(/\S{10,}/);

    const client = await s.client(accessToken);
    const result = CallToolResultSchema.parse(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(result.isError).toBeFalsy();
    expect(result.structuredContent).toMatchObject({ subject: 'alice', email: 'alice@example.test', tenant: s.tenant.slug });
  });

  it('--scope narrows the token; an unknown user or an unreachable IdP is a clear error', async () => {
    out.length = 0;
    const { accessToken } = await devToken(res(), { tenant: s.tenant.slug, user: 'bob', scope: 'tools:whoami' });
    expect(claims(accessToken).scope).toBe('tools:whoami');

    await expect(devToken(res(), { tenant: s.tenant.slug, user: 'mallory' })).rejects.toThrow(/refused to mint \(HTTP 400: unknown sub: "mallory"\)/);
    await expect(devToken(res(), { tenant: s.tenant.slug, user: 'alice', idp: 'http://127.0.0.1:1' })).rejects.toThrow(
      /could not reach the dev IdP at http:\/\/127\.0\.0\.1:1\/dev\/mint/,
    );
    await expect(devToken(res(), { tenant: namespace('cli-dev').slug, user: 'alice' })).rejects.toThrow(/no tenant with slug/);
  });

  it.each([
    ['auto', '2026-07-28'],
    ['2026-07-28', '2026-07-28'],
    ['2025', '2025-11-25'],
  ])('mcp call --protocol %s speaks %s and calls whoami', async (protocol, spoken) => {
    out.length = 0;
    notes.length = 0;
    const { accessToken } = await devToken(res(), { tenant: s.tenant.slug, user: 'alice' });
    out.length = 0;
    const code = await mcpCall(
      { out: (l) => out.push(l), err: (l) => notes.push(l) },
      { url: s.mcpUrl, token: accessToken, tool: 'whoami', args: undefined, protocol },
    );
    expect(code).toBe(0);
    expect(notes).toContain(`protocol ${spoken}`);
    expect(JSON.parse(out.join('\n'))).toMatchObject({ subject: 'alice', tenant: s.tenant.slug });
  });

  it('mcp call: bad --protocol or --args is a usage error', async () => {
    const io = { out: () => undefined };
    const base = { url: s.mcpUrl, token: 'x', tool: 'whoami' };
    await expect(mcpCall(io, { ...base, args: undefined, protocol: '2024' })).rejects.toThrow(/--protocol must be one of auto, 2026-07-28, 2025/);
    await expect(mcpCall(io, { ...base, args: '[1]' })).rejects.toThrow(/--args must be a JSON object/);
  });

  it('refuses to run in production', async () => {
    const prod = { ...res(), config: { ...s.config, NODE_ENV: 'production' as const } };
    await expect(devToken(prod, { tenant: s.tenant.slug, user: 'alice' })).rejects.toThrow(CliError);
    await expect(devSeed(prod, { idp: s.idp.issuer })).rejects.toThrow(/development only/);
  });

  it('dev seed creates the tenant once and prints its MCP URL each time', async () => {
    const { slug } = namespace('cli-dev');
    out.length = 0;
    const first = await devSeed(res(), { idp: s.idp.issuer, slug });
    const second = await devSeed(res(), { idp: s.idp.issuer, slug });
    expect([first.created, second.created]).toEqual([true, false]);
    expect(second.tenant.id).toBe(first.tenant.id);
    expect(first.tenant).toMatchObject({
      idpIssuer: s.idp.issuer,
      enabledTools: [
        'whoami',
        'web_search',
        'email_search',
        'email_read',
        'calendar_read',
        'github_repos',
        'github_search_code',
        'github_read_file',
        'echo',
        'github_profile',
        'echo_ask',
      ],
    });
    expect(out).toEqual([`${s.config.PUBLIC_URL}/t/${slug}/mcp`, `${s.config.PUBLIC_URL}/t/${slug}/mcp`]);
    // A later run with the dev IdP elsewhere re-points the dev tenant at it.
    const moved = await devSeed(res(), { idp: 'http://127.0.0.1:4999', slug });
    expect(moved.created).toBe(false);
    expect(moved.tenant.idpIssuer).toBe('http://127.0.0.1:4999');
    expect(notes.join('\n')).toContain('now http://127.0.0.1:4999');
  });
});
