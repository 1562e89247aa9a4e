import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initializeRequest, startStack, type Stack } from './harness/stack.js';

/**
 * Resource-server duties: only JWTs from the tenant's issuer, for this tenant's MCP URL,
 * unexpired. Each refusal is a 401 with a WWW-Authenticate header pointing at the RFC 9728 metadata.
 */
describe('MCP endpoint: bearer tokens', () => {
  let a: Stack;
  let b: Stack;

  beforeAll(async () => {
    [a, b] = await Promise.all([startStack({ label: 'rs-a', auth: 'external' }), startStack({ label: 'rs-b' })]);
  });
  afterAll(() => Promise.all([a?.close(), b?.close()]));

  const expect401 = async (res: Response, stack: Stack, error?: string) => {
    expect(res.status).toBe(401);
    const header = res.headers.get('www-authenticate') ?? '';
    expect(header).toMatch(/^Bearer /);
    expect(header).toContain(`resource_metadata="${stack.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${stack.tenant.slug}/mcp"`);
    // No narrow scope= in the 401 challenge: the client asks for what it needs.
    expect(header).not.toContain('scope=');
    if (error) expect(header).toContain(`error="${error}"`);
    return (await res.json()) as { error: string; error_description: string };
  };

  it('accepts a valid token (control)', async () => {
    const res = await a.post(initializeRequest, { authorization: `Bearer ${await a.token('alice')}` });
    expect(res.status).toBe(200);
  });

  it('no token → 401 with the metadata URL and no error code', async () => {
    const res = await a.post(initializeRequest);
    await expect401(res, a);
    expect(res.headers.get('www-authenticate')).not.toContain('error=');
  });

  it('a non-Bearer authorization header → 401', async () => {
    await expect401(await a.post(initializeRequest, { authorization: 'Basic YWxpY2U6cHc=' }), a, 'invalid_request');
  });

  it('garbage → 401 invalid_token', async () => {
    await expect401(await a.post(initializeRequest, { authorization: 'Bearer not.a.jwt' }), a, 'invalid_token');
  });

  it('wrong audience (another resource) → 401', async () => {
    const token = await a.token('alice', { audience: 'https://other.example/mcp' });
    const body = await expect401(await a.post(initializeRequest, { authorization: `Bearer ${token}` }), a, 'invalid_token');
    expect(body.error_description).toContain('aud');
  });

  it("wrong issuer (tenant B's IdP, with tenant A's audience) → 401", async () => {
    const token = await b.idp.mintAccessToken({ sub: 'alice', audience: a.mcpUrl, scope: 'tools:whoami' });
    await expect401(await a.post(initializeRequest, { authorization: `Bearer ${token}` }), a, 'invalid_token');
  });

  it('expired → 401', async () => {
    const token = await a.idp.mintAccessToken({ sub: 'alice', audience: a.mcpUrl, scope: 'tools:whoami', alreadyExpired: true });
    const body = await expect401(await a.post(initializeRequest, { authorization: `Bearer ${token}` }), a, 'invalid_token');
    expect(body.error_description).toContain('expired');
  });

  it('a valid token for tenant B is useless at tenant A, and the other way round', async () => {
    const tokenB = await b.token('alice');
    await expect401(await a.post(initializeRequest, { authorization: `Bearer ${tokenB}` }), a, 'invalid_token');
    // Same host, other tenant's path: audience mismatch.
    const res = await fetch(a.mcpUrl.replace(a.tenant.slug, b.tenant.slug).replace(a.config.PUBLIC_URL, b.config.PUBLIC_URL), {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', authorization: `Bearer ${await a.token('alice')}` },
      body: JSON.stringify(initializeRequest),
    });
    await expect401(res, b, 'invalid_token');
  });

  it("a token signed by a key that is not the issuer's → 401 (forged token)", async () => {
    const real = await a.token('alice');
    const [h, p] = real.split('.');
    const forged = `${h}.${p}.${Buffer.from('x'.repeat(64)).toString('base64url')}`;
    await expect401(await a.post(initializeRequest, { authorization: `Bearer ${forged}` }), a, 'invalid_token');
  });

  it('the SDK client (v1) surfaces the 401 as an auth failure (both SDKs: protocol-eras.test.ts)', async () => {
    await expect(a.client('not-a-token', { kind: 'v1' })).rejects.toThrow(/invalid_token/);
  });

  it('an unknown tenant → 404', async () => {
    const res = await a.post(initializeRequest, {}, `${a.config.PUBLIC_URL}/t/no-such-tenant/mcp`);
    expect(res.status).toBe(404);
  });

  it("a token without the tool's scope → 403 insufficient_scope naming it (step-up), audited as a denial", async () => {
    const token = await a.token('bob', { scope: 'tools:echo' });
    const res = await a.post({ jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } }, { authorization: `Bearer ${token}` });
    expect(res.status).toBe(403);
    const header = res.headers.get('www-authenticate') ?? '';
    expect(header).toContain('error="insufficient_scope"');
    expect(header).toContain('tools:whoami');
    expect(header).toContain('resource_metadata=');
    const rows = await a.db.sql`select action, decision, reason from audit_events where tenant_id = ${a.tenant.id} and decision = 'deny'`;
    expect(rows.some((r) => r.reason === 'insufficient_scope: tools:whoami')).toBe(true);
  });
});

describe('MCP endpoint: transport rules', () => {
  let s: Stack;
  let auth: Record<string, string>;
  beforeAll(async () => {
    s = await startStack({ label: 'rs-t', auth: 'external', worker: 'none', env: { MCP_BODY_LIMIT: '64kb', ALLOWED_ORIGINS: 'https://app.example' } });
    auth = { authorization: `Bearer ${await s.token('alice')}` };
  });
  afterAll(() => s?.close());

  it('GET and DELETE answer 405 (stateless server)', async () => {
    for (const method of ['GET', 'DELETE']) {
      const res = await fetch(s.mcpUrl, { method, headers: auth });
      expect(res.status).toBe(405);
      expect(res.headers.get('allow')).toBe('POST');
    }
  });

  it('a foreign Origin is refused with 403 (DNS rebinding); an allowed one passes', async () => {
    expect((await s.post(initializeRequest, { ...auth, origin: 'http://evil.example' })).status).toBe(403);
    expect((await s.post(initializeRequest, { ...auth, origin: 'https://app.example' })).status).toBe(200);
    expect((await s.post(initializeRequest, { ...auth, origin: s.config.PUBLIC_URL })).status).toBe(200);
  });

  it('Streamable HTTP on the wire: JSON answers, 202 for a notification, 406 without both Accept types, 400 for an unknown protocol version', async () => {
    const init = await s.post(initializeRequest, auth);
    expect(init.status).toBe(200);
    expect(init.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await init.json()).toMatchObject({ jsonrpc: '2.0', id: 1, result: { serverInfo: { name: 'mcprt' } } });

    const note = await s.post({ jsonrpc: '2.0', method: 'notifications/initialized' }, auth);
    expect(note.status).toBe(202);
    expect(await note.text()).toBe('');

    const list = await s.post({ jsonrpc: '2.0', id: 'l', method: 'tools/list' }, { ...auth, 'mcp-protocol-version': '2025-06-18' });
    expect(((await list.json()) as { result: { tools: { name: string }[] } }).result.tools.map((t) => t.name)).toContain('echo');

    const jsonOnly = await s.post({ jsonrpc: '2.0', id: 2, method: 'ping' }, { ...auth, accept: 'application/json' });
    expect(jsonOnly.status).toBe(406);
    expect(await jsonOnly.json()).toMatchObject({ jsonrpc: '2.0', error: { code: -32000 } });

    const badVersion = await s.post({ jsonrpc: '2.0', id: 3, method: 'ping' }, { ...auth, 'mcp-protocol-version': '1999-01-01' });
    expect(badVersion.status).toBe(400);
    expect(await badVersion.json()).toMatchObject({ error: { message: expect.stringMatching(/protocol version/i) } });
  });

  it('bodies over the limit → 413, malformed JSON → 400, nothing recorded', async () => {
    const big = { jsonrpc: '2.0', id: 3, method: 'tools/call', params: { name: 'echo', arguments: { message: 'x'.repeat(100_000) } } };
    const tooBig = await s.post(big, auth);
    expect(tooBig.status).toBe(413);
    expect(await tooBig.json()).toMatchObject({ error: 'payload_too_large' });
    const broken = await s.post('{"jsonrpc":', auth);
    expect(broken.status).toBe(400);
    expect(await broken.json()).toMatchObject({ error: 'bad_request' });
    const rows = await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`;
    expect(rows[0]!.n).toBe(0);
  });

  it("serves RFC 9728 metadata (path-inserted and tenant-root forms) naming the tenant's issuer", async () => {
    for (const path of [`/.well-known/oauth-protected-resource/t/${s.tenant.slug}/mcp`, `/t/${s.tenant.slug}/.well-known/oauth-protected-resource`]) {
      const res = await fetch(`${s.config.PUBLIC_URL}${path}`);
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({
        resource: s.mcpUrl,
        authorization_servers: [s.idp.issuer],
        scopes_supported: ['tools:whoami', 'tools:web_search', 'tools:echo'],
        bearer_methods_supported: ['header'],
        resource_name: `Test ${s.tenant.slug} (MCP)`,
      });
    }
  });

  it('health and readiness answer', async () => {
    expect((await fetch(`${s.config.PUBLIC_URL}/healthz`)).status).toBe(200);
    const ready = await fetch(`${s.config.PUBLIC_URL}/readyz`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toMatchObject({ postgres: 'ok', redis: 'ok' });
  });
});
