import net from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SCOPES, CLIENT_KINDS, startStack, type ClientKind, type Stack } from './harness/stack.js';

/**
 * One MCP URL serves the 2026-07-28 revision (SDK v2 client, version negotiation `auto`) and
 * the 2025 revisions (SDK v1 client, 2025-11-25). The same end-to-end suite runs with each client.
 */
const EXPECTED_VERSION: Record<ClientKind, string> = { v2: '2026-07-28', 'v2-legacy': '2025-11-25', v1: '2025-11-25' };

/** A fetch that remembers every response's status and WWW-Authenticate challenge, to see what the client saw. */
function recordingFetch() {
  const seen: { status: number; challenge: string | null }[] = [];
  const f: typeof fetch = async (input, init) => {
    const res = await fetch(input, init);
    seen.push({ status: res.status, challenge: res.headers.get('www-authenticate') });
    return res;
  };
  return { fetch: f, seen };
}

describe.each(CLIENT_KINDS.map((k) => [k]))('end to end with the SDK client %s', (kind) => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: `eras-${kind}` });
    await s.connectUser('alice');
    await s.connectUser('bob');
  });
  afterAll(() => s?.close());

  it(`negotiates ${EXPECTED_VERSION[kind]}`, async () => {
    const client = await s.client(await s.token('alice'), { kind });
    expect(client.protocolVersion).toBe(EXPECTED_VERSION[kind]);
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['echo', 'tool_call_result', 'web_search', 'whoami']);
  });

  it('two users each get their own identity from whoami', async () => {
    const [alice, bob] = await Promise.all(
      ['alice', 'bob'].map(async (sub) => (await s.client(await s.token(sub), { kind })).callTool({ name: 'whoami', arguments: {} })),
    );
    expect(alice!.isError).toBeFalsy();
    expect(alice!.structuredContent).toMatchObject({ subject: 'alice', email: 'alice@example.test', tenant: s.tenant.slug });
    expect(bob!.structuredContent).toMatchObject({ subject: 'bob', email: 'bob@example.test' });
    expect(JSON.stringify(alice)).not.toContain('bob@example.test');
  });

  it('web_search runs and returns structured results', async () => {
    const client = await s.client(await s.token('alice'), { kind });
    const res = await client.callTool({ name: 'web_search', arguments: { query: `eras ${kind}` } });
    expect(res.isError).toBeFalsy();
    expect((res.structuredContent as { results: unknown[] }).results.length).toBeGreaterThan(0);
  });

  it('bad arguments come back as a tool error naming the field, and nothing is recorded', async () => {
    const client = await s.client(await s.token('bob'), { kind });
    const before = await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`;
    const res = await client.callTool({ name: 'web_search', arguments: { query: 42 } });
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toContain('query');
    const after = await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`;
    expect(after[0]!.n).toBe(before[0]!.n);
    // An unknown tool is a protocol error (-32602), not a tool result.
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/Unknown tool/);
  });

  it('a token without the tool’s scope gets a 403 step-up challenge with the union of scopes; a token with them succeeds', async () => {
    const rec = recordingFetch();
    const narrow = await s.client(await s.token('alice', { scope: 'tools:echo' }), { kind, fetch: rec.fetch });
    await expect(narrow.callTool({ name: 'whoami', arguments: {} })).rejects.toThrow(/insufficient[ _]scope/i);
    const challenge = rec.seen.find((r) => r.status === 403)?.challenge ?? '';
    expect(challenge).toMatch(/^Bearer error="insufficient_scope"/);
    // The union of what the token had and what the tool needs, so re-authorizing with it loses nothing.
    expect(challenge).toContain('scope="tools:echo tools:whoami"');
    expect(challenge).toContain(`resource_metadata="${s.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${s.tenant.slug}/mcp"`);
    // Re-authorized with the challenged scopes (a fresh token): the call runs.
    const scope = /scope="([^"]+)"/.exec(challenge)![1]!;
    const wide = await s.client(await s.token('alice', { scope }), { kind });
    expect((await wide.callTool({ name: 'whoami', arguments: {} })).structuredContent).toMatchObject({ subject: 'alice' });
  });

  it('no valid token → 401 with resource_metadata, surfaced by the client as an auth failure', async () => {
    const rec = recordingFetch();
    await expect(s.client('not-a-token', { kind, fetch: rec.fetch })).rejects.toThrow(/401|invalid_token|unauthorized|authoriz/i);
    const refused = rec.seen.find((r) => r.status === 401);
    expect(refused?.challenge).toContain(`resource_metadata="${s.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${s.tenant.slug}/mcp"`);
    expect(refused?.challenge).toContain('error="invalid_token"');
  });
});

const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'wire', version: '1' },
};

interface RpcBody {
  jsonrpc: string;
  id: unknown;
  result?: Record<string, unknown>;
  error?: { code: number; message: string; data?: unknown };
}

/**
 * The 2026-07-28 revision on the wire (raw HTTP, real API, valid token): what the SDK client never
 * lets a test send.
 */
describe('2026-07-28 on the wire', () => {
  let s: Stack;
  let auth: Record<string, string>;
  beforeAll(async () => {
    s = await startStack({ label: 'eras-wire' });
    await s.connectUser('alice');
    auth = { authorization: `Bearer ${await s.token('alice', { scope: ALL_SCOPES })}` };
  });
  afterAll(() => s?.close());

  const modern = (id: unknown, method: string, params: Record<string, unknown> = {}) => ({
    jsonrpc: '2.0',
    id,
    method,
    params: { ...params, _meta: ENVELOPE },
  });
  const headersFor = (method: string, name?: string) => ({
    ...auth,
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...(name ? { 'mcp-name': name } : {}),
  });
  const rpc = async (res: Response) => ({ status: res.status, body: (await res.json()) as RpcBody });

  it('server/discover answers with the supported revisions, the server’s capabilities and identity', async () => {
    const { status, body } = await rpc(await s.post(modern('d1', 'server/discover'), headersFor('server/discover')));
    expect(status).toBe(200);
    expect(body.id).toBe('d1');
    expect(body.result).toMatchObject({
      supportedVersions: expect.arrayContaining(['2026-07-28']),
      capabilities: { tools: {} },
      _meta: { 'io.modelcontextprotocol/serverInfo': { name: 'mcprt' } },
    });
    // Logging in both eras: a tool that logs sends messages only to a request that set a log level
    // (2026-07-28: in its `_meta`; logging/setLevel is gone), which the SDK honours only while it is declared.
    expect(body.result!.capabilities).toHaveProperty('logging');
  });

  it('tools/call runs under the modern envelope, with the call’s id and poll URL in _meta', async () => {
    const { status, body } = await rpc(
      await s.post(modern(7, 'tools/call', { name: 'echo', arguments: { message: 'modern' } }), headersFor('tools/call', 'echo')),
    );
    expect(status).toBe(200);
    expect(body.id).toBe(7);
    expect(body.result).toMatchObject({ structuredContent: { message: 'modern' }, resultType: 'complete' });
    expect(body.result!.isError).toBeFalsy();
    expect((body.result!._meta as Record<string, { pollUrl: string }>)['io.mcprt/call']!.pollUrl).toContain('/v1/tool-calls/');
  });

  it('a 2026-07-28 header without the _meta envelope → 400 / -32602', async () => {
    const { status, body } = await rpc(await s.post({ jsonrpc: '2.0', id: 3, method: 'tools/list', params: {} }, headersFor('tools/list')));
    expect(status).toBe(400);
    expect(body).toMatchObject({ id: 3, error: { code: -32602 } });
    // An envelope missing a required key is refused the same way.
    const partial = { jsonrpc: '2.0', id: 4, method: 'tools/list', params: { _meta: { 'io.modelcontextprotocol/protocolVersion': '2026-07-28' } } };
    const r2 = await rpc(await s.post(partial, headersFor('tools/list')));
    expect(r2.status).toBe(400);
    expect(r2.body).toMatchObject({ id: 4, error: { code: -32602 } });
  });

  it('an unsupported revision → 400 / -32022 naming the supported ones', async () => {
    const body = { jsonrpc: '2.0', id: 'v', method: 'tools/list', params: { _meta: { ...ENVELOPE, 'io.modelcontextprotocol/protocolVersion': '2099-01-01' } } };
    const r = await rpc(await s.post(body, { ...headersFor('tools/list'), 'mcp-protocol-version': '2099-01-01' }));
    expect(r.status).toBe(400);
    expect(r.body).toMatchObject({ id: 'v', error: { code: -32022, data: { supported: ['2026-07-28'], requested: '2099-01-01' } } });
  });

  describe('standard headers must agree with the body (-32020)', () => {
    const call = modern(11, 'tools/call', { name: 'echo', arguments: { message: 'h' } });
    const good = () => headersFor('tools/call', 'echo');
    const cases: [string, (h: Record<string, string>) => Record<string, string>][] = [
      ['MCP-Protocol-Version missing', ({ 'mcp-protocol-version': _, ...h }) => h],
      ['MCP-Protocol-Version disagreeing', (h) => ({ ...h, 'mcp-protocol-version': '2025-11-25' })],
      ['Mcp-Method missing', ({ 'mcp-method': _, ...h }) => h],
      ['Mcp-Method disagreeing', (h) => ({ ...h, 'mcp-method': 'tools/list' })],
      ['Mcp-Name missing', ({ 'mcp-name': _, ...h }) => h],
      ['Mcp-Name disagreeing', (h) => ({ ...h, 'mcp-name': 'whoami' })],
    ];
    it.each(cases)('%s → 400 / -32020 with the request id, and nothing runs', async (_label, change) => {
      const before = await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`;
      const r = await rpc(await s.post(call, change(good())));
      expect(r.status).toBe(400);
      expect(r.body).toMatchObject({ jsonrpc: '2.0', id: 11, error: { code: -32020 } });
      const after = await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`;
      expect(after[0]!.n).toBe(before[0]!.n);
    });

    it('header names in any case and values with surrounding whitespace are accepted (byte-exact request)', async () => {
      const url = new URL(s.mcpUrl);
      const body = JSON.stringify(modern(12, 'tools/call', { name: 'echo', arguments: { message: 'ws' } }));
      const head = [
        `POST ${url.pathname} HTTP/1.1`,
        `Host: ${url.host}`,
        `Authorization: ${auth.authorization}`,
        'Content-Type: application/json',
        'Accept: application/json, text/event-stream',
        'mcp-PROTOCOL-version:   2026-07-28  ',
        'MCP-METHOD:\ttools/call ',
        'mcp-name:  echo\t',
        `Content-Length: ${Buffer.byteLength(body)}`,
        'Connection: close',
      ].join('\r\n');
      const raw = await new Promise<string>((resolve, reject) => {
        const sock = net.connect(Number(url.port), url.hostname, () => sock.write(`${head}\r\n\r\n${body}`));
        let data = '';
        sock
          .setEncoding('utf8')
          .on('data', (d) => (data += d))
          .on('end', () => resolve(data))
          .on('error', reject);
      });
      expect(raw).toMatch(/^HTTP\/1\.1 200 /);
      const json = JSON.parse(raw.slice(raw.indexOf('\r\n\r\n') + 4)) as RpcBody;
      expect(json).toMatchObject({ id: 12, result: { structuredContent: { message: 'ws' } } });
    });
  });

  it.each(['initialize', 'ping', 'logging/setLevel'])('%s → 404 / -32601 in the modern era', async (method) => {
    const params =
      method === 'initialize'
        ? { protocolVersion: '2026-07-28', capabilities: {}, clientInfo: { name: 'x', version: '1' } }
        : method === 'logging/setLevel'
          ? { level: 'info' }
          : {};
    const r = await rpc(await s.post(modern(`m-${method}`, method, params), headersFor(method)));
    expect(r.status).toBe(404);
    expect(r.body).toMatchObject({ id: `m-${method}`, error: { code: -32601 } });
  });

  it('… while initialize, ping and logging/setLevel still work for a 2025 client on the same URL', async () => {
    const v = { ...auth, 'mcp-protocol-version': '2025-11-25' };
    const init = await rpc(
      await s.post(
        { jsonrpc: '2.0', id: 1, method: 'initialize', params: { protocolVersion: '2025-11-25', capabilities: {}, clientInfo: { name: 'x', version: '1' } } },
        auth,
      ),
    );
    expect(init).toMatchObject({ status: 200, body: { id: 1, result: { protocolVersion: '2025-11-25', serverInfo: { name: 'mcprt' } } } });
    expect(await rpc(await s.post({ jsonrpc: '2.0', id: 2, method: 'ping' }, v))).toMatchObject({ status: 200, body: { id: 2, result: {} } });
    expect(await rpc(await s.post({ jsonrpc: '2.0', id: 3, method: 'logging/setLevel', params: { level: 'info' } }, v))).toMatchObject({
      status: 200,
      body: { id: 3, result: {} },
    });
    // 2025 results keep their 2025 shape: no resultType, no serverInfo in _meta.
    const list = await rpc(await s.post({ jsonrpc: '2.0', id: 4, method: 'tools/list' }, v));
    expect(list.body.result).not.toHaveProperty('resultType');
  });

  it('a JSON-RPC batch carrying a 2026-07-28 request → 400 / -32600', async () => {
    const r = await rpc(await s.post([modern(1, 'tools/list')], headersFor('tools/list')));
    expect(r.status).toBe(400);
    expect(r.body.error!.code).toBe(-32600);
  });

  it('the 403 step-up challenge and the 401 work the same for a modern request', async () => {
    const narrow = { authorization: `Bearer ${await s.token('alice', { scope: 'tools:echo' })}` };
    const res = await s.post(modern(5, 'tools/call', { name: 'whoami', arguments: {} }), { ...headersFor('tools/call', 'whoami'), ...narrow });
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('scope="tools:echo tools:whoami"');
    const { authorization: _, ...noAuth } = headersFor('tools/list') as Record<string, string>;
    const res401 = await s.post(modern(6, 'tools/list'), noAuth);
    expect(res401.status).toBe(401);
    expect(res401.headers.get('www-authenticate')).toContain('resource_metadata=');
  });
});
