import { buildMcpServer } from '@mcprt/api';
import { Client, InMemoryTransport } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from './harness/secret-scan.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * Bounded work per request, each by the attack it stops: authorization
 * is decided in one policy module every path goes through, batches cannot skip it, internal errors
 * never reach a client, text that is not text is refused up front.
 */
const call = (id: number, name: string, args: Record<string, unknown> = {}) => ({
  jsonrpc: '2.0',
  id,
  method: 'tools/call',
  params: { name, arguments: args },
});

describe('authorization holds for every message of a request', () => {
  let s: Stack;
  let alice: string;
  beforeAll(async () => {
    s = await startStack({ label: 'front-authz', env: { MCP_MAX_BATCH: '20', MCP_MAX_CALLS_PER_REQUEST: '5' } });
    alice = (await s.connectUser('alice')).user.id;
  });
  afterAll(() => s?.close());

  const callsOf = async (userId: string) =>
    (await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id} and user_id = ${userId}`)[0]!.n as number;

  it('a batch with a tools/call from a token with no scope at all is a 403 step-up, and nothing runs (the batch bypass)', async () => {
    const noScope = { authorization: `Bearer ${await s.token('alice', { scope: '' })}` };
    const before = await callsOf(alice);
    // No MCP-Protocol-Version header: MCP's default, 2025-03-26, the one revision with batches.
    for (const headers of [noScope, { ...noScope, 'mcp-protocol-version': '2025-03-26' }]) {
      const res = await s.post([call(1, 'whoami')], headers);
      expect(res.status).toBe(403);
      expect(res.headers.get('www-authenticate')).toContain('error="insufficient_scope", scope="tools:whoami"');
      expect(await res.text()).not.toContain('alice@example.test');
    }
    expect(await callsOf(alice)).toBe(before);
    const denied = await s.db.sql`select reason from audit_events where tenant_id = ${s.tenant.id} and user_id = ${alice} and decision = 'deny'`;
    expect(denied.map((r) => r.reason)).toContain('insufficient_scope: tools:whoami');
  });

  it('a mixed batch (one allowed call, one not) is refused whole, with the union of scopes to step up to', async () => {
    const echoOnly = { authorization: `Bearer ${await s.token('alice', { scope: 'tools:echo' })}` };
    const before = await callsOf(alice);
    const res = await s.post([call(1, 'echo', { message: 'first' }), call(2, 'whoami'), call(3, 'web_search', { query: 'x' })], echoOnly);
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('scope="tools:echo tools:whoami tools:web_search"');
    expect(await callsOf(alice)).toBe(before);
  });

  it.each(['2025-06-18', '2025-11-25', '2026-07-28'])('a batch in MCP %s (which has none) → 400 / -32600, nothing runs', async (version) => {
    const before = await callsOf(alice);
    const res = await s.post([call(7, 'echo', { message: 'b' })], { authorization: `Bearer ${await s.token('alice')}`, 'mcp-protocol-version': version });
    expect(res.status).toBe(400);
    const body = (await res.json()) as { error: { code: number; message: string } };
    expect(body.error.code).toBe(-32600);
    expect(body.error.message).toContain('batches');
    expect(await callsOf(alice)).toBe(before);
  });

  it('a 2025-03-26 batch with the scopes runs every element', async () => {
    const res = await s.post([call(1, 'echo', { message: 'one' }), call(2, 'echo', { message: 'two' })], { authorization: `Bearer ${await s.token('alice')}` });
    expect(res.status).toBe(200);
    const text = await res.text();
    expect(text).toContain('one');
    expect(text).toContain('two');
  });

  it('a 50-element batch, or one with more tool calls than allowed, is refused before anything runs', async () => {
    const auth = { authorization: `Bearer ${await s.token('alice')}` };
    const before = await callsOf(alice);
    const fifty = Array.from({ length: 50 }, (_, i) => call(i + 1, 'echo', { message: `m${i}` }));
    const r1 = await s.post(fifty, auth);
    expect(r1.status).toBe(400);
    expect(((await r1.json()) as { error: { code: number; message: string } }).error).toMatchObject({
      code: -32600,
      message: expect.stringContaining('at most 20'),
    });
    const r2 = await s.post(fifty.slice(0, 6), auth);
    expect(r2.status).toBe(400);
    expect(((await r2.json()) as { error: { message: string } }).error.message).toContain('at most 5 tool calls');
    const r3 = await s.post([], auth);
    expect(r3.status).toBe(400);
    expect(await callsOf(alice)).toBe(before);
  });

  it('the tools/call handler decides by itself, without the route’s fast path (the policy holds on every path)', async () => {
    // The request's own server, driven directly: no HTTP route, so no step-up middleware in front.
    const r = s.api!.resources;
    const user = (await s.scope.users.bySubject(s.idp.issuer, 'alice'))!;
    const who = {
      tenant: s.tenant,
      scope: s.scope,
      token: {
        issuer: s.idp.issuer,
        subject: 'alice',
        audience: s.mcpUrl,
        scopes: ['tools:echo'],
        clientId: undefined,
        expiresAt: new Date(Date.now() + 60_000),
      },
      user,
      requestId: 'req-direct',
      log: r.log,
    } as unknown as Parameters<typeof buildMcpServer>[1];
    const server = buildMcpServer(r, who, 'legacy', new AbortController().signal);
    const [a, b] = InMemoryTransport.createLinkedPair();
    await server.connect(b);
    const client = new Client({ name: 'direct', version: '1' });
    await client.connect(a);
    const before = await callsOf(alice);
    const res = await client.callTool({ name: 'whoami', arguments: {} });
    expect(res.isError).toBe(true);
    expect(res._meta?.['io.mcprt/error']).toEqual({ code: 'insufficient_scope' });
    expect(JSON.stringify(res)).not.toContain('alice@example.test');
    expect(await callsOf(alice)).toBe(before);
    // A tool the tenant has not enabled is no tool at all.
    const disabled = buildMcpServer(r, { ...who, tenant: { ...s.tenant, enabledTools: ['echo'] } }, 'legacy', new AbortController().signal);
    const [c, d] = InMemoryTransport.createLinkedPair();
    await disabled.connect(d);
    const client2 = new Client({ name: 'direct', version: '1' });
    await client2.connect(c);
    await expect(client2.callTool({ name: 'whoami', arguments: {} })).rejects.toThrow(/Unknown tool/);
    await Promise.all([client.close(), client2.close()]);
  });
});

describe('clear answers: bad text is refused, internal errors stay inside', () => {
  const { log, lines } = captureLogs({ level: 'info' });
  let s: Stack;
  let alice: string;
  beforeAll(async () => {
    s = await startStack({ label: 'front-errors', log });
    alice = (await s.connectUser('alice')).user.id;
  });
  afterAll(() => s?.close());

  it.each([
    ['a NUL character', 'a\u0000b', 'NUL'],
    ['an unpaired surrogate', 'a\ud800b', 'surrogate'],
  ])('an argument with %s → a tool error naming the field, nothing recorded, nothing logged at error level', async (_label, query, word) => {
    const before = lines.length;
    const client = await s.client(await s.token('alice'));
    const n0 = (await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`)[0]!.n;
    const res = await client.callTool({ name: 'web_search', arguments: { query } });
    expect(res.isError).toBe(true);
    const text = JSON.stringify(res.content);
    expect(text).toContain('query');
    expect(text).toContain(word);
    expect(text).not.toMatch(/postgres|unsupported Unicode|invalid byte sequence/i);
    expect((await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`)[0]!.n).toBe(n0);
    expect(lines.slice(before).filter((l) => /"level":"error"/.test(l))).toEqual([]);
  });

  it('an invalid idempotency key is a clear tool error', async () => {
    const client = await s.client(await s.token('alice'));
    const res = await client.callTool({ name: 'echo', arguments: { message: 'k' }, _meta: { 'io.mcprt/idempotency-key': 'bad\u0000key' } });
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).toContain('idempotency-key');
  });

  it('an internal failure inside the MCP handler → -32603 "internal error" with the request id, never the driver’s text; logged once', async () => {
    const client = await s.client(await s.token('alice'));
    expect((await client.callTool({ name: 'echo', arguments: { message: 'warm' } })).isError).toBeFalsy();
    // The API's database goes away under the handler (caches are warm: auth passes, the call's write fails).
    await s.api!.resources.db.close();
    const before = lines.length;
    const err = await client.callTool({ name: 'echo', arguments: { message: 'boom' } }).then(
      () => undefined,
      (e: Error & { code?: number; data?: { requestId?: string } }) => e,
    );
    expect(err).toBeDefined();
    expect(err!.code).toBe(-32603);
    expect(err!.message).toMatch(/internal error \(request id [\w-]+\)/);
    expect(err!.message).not.toMatch(/CONNECTION|ECONNREFUSED|postgres|ended/i);
    const requestId = /request id ([\w-]+)/.exec(err!.message)![1]!;
    const logged = lines.slice(before).filter((l) => l.includes('mcp request failed'));
    expect(logged).toHaveLength(1);
    expect(logged[0]).toContain(`"requestId":"${requestId}"`);
    expect(logged[0]).toContain('"level":"error"');
    // The failed write left no call behind: of alice's calls in this block, only the warm-up was recorded.
    const recorded = await s.db.sql`select arguments->>'message' as m from tool_calls where tenant_id = ${s.tenant.id} and user_id = ${alice}`;
    expect(recorded.map((c) => c.m)).toEqual(['warm']);
  });
});
