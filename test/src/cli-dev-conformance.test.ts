import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerClient, userToken } from './harness/as-token.js';
import { runCli } from './harness/cli-process.js';
import { connectClient, startStack, type Stack } from './harness/stack.js';

/**
 * `cli dev conformance`: the conformance suite's test-only tenant and a token for it, as an operator
 * runs it after `ENABLE_TEST_TOOLS=true pnpm start`. The token is a real one the tenant's own
 * authorization server signs; it reaches only that tenant, and the tenant exists only in a
 * deployment with the test tools.
 */
describe('cli dev conformance', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'cli-conf', auth: 'builtin' });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  it('is refused without ENABLE_TEST_TOOLS while the tenant does not exist', async () => {
    const r = await runCli(['dev', 'conformance', '--idp', s.idp.issuer], { ...s.env, ENABLE_TEST_TOOLS: 'false' });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
    expect(r.stderr).toContain('ENABLE_TEST_TOOLS=true');
  });

  it('prints exactly MCP_URL and TOKEN; the token lists and calls the fixture tools through the queue and worker', async () => {
    const r = await runCli(['dev', 'conformance', '--idp', s.idp.issuer], s.env);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toBe(`MCP_URL=${s.config.PUBLIC_URL}/t/conformance/mcp`);
    expect(lines[1]).toMatch(/^TOKEN=[\w-]+\.[\w-]+\.[\w-]+$/);
    const token = lines[1]!.slice('TOKEN='.length);
    const claims = JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number; iat: number; aud: string };
    expect(claims.exp - claims.iat).toBeGreaterThanOrEqual(600);
    expect(claims.aud).toBe(`${s.config.PUBLIC_URL}/t/conformance/mcp`);

    const client = await connectClient('v2', lines[0]!.slice('MCP_URL='.length), token);
    try {
      const names = (await client.listTools()).tools.map((t) => t.name);
      expect(names).toEqual(expect.arrayContaining(['test_simple_text', 'test_image_content', 'greet', 'slow_compute', 'failing_job']));
      // Only the fixture tools (and the built-in result tool): none of the deployment's other tools.
      expect(names).not.toContain('echo');
      expect(names).not.toContain('whoami');
      const image = await client.callTool({ name: 'test_image_content', arguments: {} });
      expect(image.content).toEqual([expect.objectContaining({ type: 'image', mimeType: 'image/png' })]);
      const error = await client.callTool({ name: 'test_error_handling', arguments: {} });
      expect(error).toMatchObject({ isError: true, content: [{ type: 'text', text: 'This tool intentionally returns an error for testing' }] });
    } finally {
      await client.close();
    }
    // The call was recorded and run by the worker (the real path), under the tenant's own user.
    const rows = await s.db.sql<{ tool: string; status: string }[]>`select tool, status from tool_calls where tool = 'test_image_content'`;
    expect(rows).toEqual([{ tool: 'test_image_content', status: 'succeeded' }]);
  }, 60_000);

  it("the conformance tenant's token is refused at another tenant", async () => {
    const r = await runCli(['dev', 'conformance'], { ...s.env, ENABLE_TEST_TOOLS: 'false' });
    expect(r.code, r.stderr).toBe(0);
    const token = r.stdout.trimEnd().split('\n')[1]!.slice('TOKEN='.length);
    const res = await s.post({ jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} }, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(401);
  });

  it('refuses production', async () => {
    const r = await runCli(['dev', 'conformance', '--idp', s.idp.issuer], { ...s.env, NODE_ENV: 'production' });
    expect(r.code).not.toBe(0);
    expect(r.stdout).toBe('');
  });
});

describe('an authorization request that names no scope', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'no-scope' });
  }, 60_000);
  afterAll(async () => {
    await s?.close();
  });

  it("gets the tenant's tool scopes (RFC 6749 default), never the history scopes; the user saw them on the consent page", async () => {
    const clientId = await registerClient(s.issuer, 'no-scope app');
    const token = await userToken(s, { clientId, account: 'alice', scope: undefined });
    expect(token.scope.split(' ').sort()).toEqual(s.tenant.enabledTools.map((n) => `tools:${n}`).sort());
    const consent = token.pages.find((p) => p.includes('name="csrf"'));
    expect(consent).toContain('tools:whoami');
    expect(consent).not.toContain('calls:read');
    // A request that names a scope gets that one only, as before.
    const narrow = await userToken(s, { clientId, account: 'bob', scope: 'tools:whoami' });
    expect(narrow.scope).toBe('tools:whoami');
  }, 60_000);
});
