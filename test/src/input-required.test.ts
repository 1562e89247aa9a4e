import { createHash, randomBytes } from 'node:crypto';
import { requestHash, sealRequestState } from '@mcprt/keyring';
import { Client, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { ElicitRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { freePort } from './harness/free-port.js';
import { captureLogs, expectNoSecrets } from './harness/secret-scan.js';
import { startStack, type Stack } from './harness/stack.js';
import { waitFor } from './harness/wait-for.js';

/**
 * Multi-round-trip requests (MCP 2026-07-28 InputRequiredResult) through the real path: the API asks,
 * the client answers, the sealed requestState carries the rounds, the answers are sealed beside the
 * call row and reach the tool in the worker. `echo_ask` asks one field per round and answers with
 * the SHA-256 of each answer only. The official SDK v2 Client fulfils the rounds itself (its
 * elicitation handler); raw requests try every way to misuse a state.
 */
const TOOLS = ['echo_ask', 'test_input_required_result_elicitation', 'multi_input'];
const SCOPES = TOOLS.map((t) => `tools:${t}`).join(' ');
const TASKS = 'io.modelcontextprotocol/tasks';
const sha256 = (v: string) => createHash('sha256').update(v).digest('hex');

interface Rpc {
  result?: Record<string, unknown> & { resultType?: string; requestState?: string; inputRequests?: Record<string, unknown> };
  error?: { code: number; message: string };
}

let s: Stack;
let other: Stack;
const logs = captureLogs();

beforeAll(async () => {
  [s, other] = await Promise.all([
    startStack({ label: 'mrtr', enabledTools: TOOLS, log: logs.log, env: { TASK_WAIT_MS: '200', APPROVAL_SWEEP_MS: '200' } }),
    startStack({ label: 'mrtr-b', enabledTools: TOOLS }),
  ]);
  for (const u of ['alice', 'bob']) await s.connectUser(u);
  await other.connectUser('alice');
}, 90_000);
afterAll(async () => {
  await Promise.allSettled([s?.close(), other?.close()]);
});

/** A raw 2026-07-28 request (what the SDK client never lets a test send), declaring elicitation (and tasks, if asked). */
async function rpc(
  stack: Stack,
  user: string,
  method: string,
  params: Record<string, unknown>,
  o: { tasks?: boolean; clientId?: string; scope?: string } = {},
): Promise<Rpc> {
  const caps = { elicitation: {}, ...(o.tasks ? { extensions: { [TASKS]: {} } } : {}) };
  const body = {
    jsonrpc: '2.0',
    id: randomBytes(4).toString('hex'),
    method,
    params: {
      ...params,
      _meta: {
        'io.modelcontextprotocol/protocolVersion': '2026-07-28',
        'io.modelcontextprotocol/clientCapabilities': caps,
        'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
      },
    },
  };
  const name = typeof params.name === 'string' ? params.name : typeof params.taskId === 'string' ? params.taskId : undefined;
  const res = await stack.post(body, {
    authorization: `Bearer ${await stack.token(user, { scope: o.scope ?? SCOPES, ...(o.clientId ? { clientId: o.clientId } : {}) })}`,
    'mcp-protocol-version': '2026-07-28',
    'mcp-method': method,
    ...(name ? { 'mcp-name': name } : {}),
  });
  return (await res.json()) as Rpc;
}
const call = (stack: Stack, user: string, params: Record<string, unknown>) => rpc(stack, user, 'tools/call', params);
const accept = (value: unknown) => ({ action: 'accept', content: { value } });
const args = (message: string) => ({ message, fields: ['pin', 'word'] });

describe('the official SDK v2 client fulfils the rounds itself', () => {
  it('two rounds, answered by its elicitation handler; the answers reach the worker sealed and nowhere in clear', async () => {
    const secrets = { pin: `pin-${randomBytes(8).toString('hex')}`, word: `word-${randomBytes(8).toString('hex')}` };
    const client = new Client({ name: 'mrtr-test', version: '1' }, { versionNegotiation: { mode: 'auto' }, capabilities: { elicitation: {} } });
    const asked: string[] = [];
    client.setRequestHandler('elicitation/create', (req) => {
      const field = /"(\w+)"/.exec(req.params.message)![1]! as keyof typeof secrets;
      asked.push(field);
      return Promise.resolve({ action: 'accept' as const, content: { value: secrets[field] } });
    });
    const token = await s.token('alice', { scope: SCOPES });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    const res = (await client.callTool({ name: 'echo_ask', arguments: args('sdk-happy') })) as {
      structuredContent: Record<string, unknown>;
      _meta: Record<string, { id: string }>;
    };
    await client.close();
    expect(asked).toEqual(['pin', 'word']);
    expect(res.structuredContent).toEqual({ message: 'sdk-happy', ranAs: 'alice', answersSha256: { pin: sha256(secrets.pin), word: sha256(secrets.word) } });
    const id = res._meta['io.mcprt/call']!.id;
    const [row] = await s.db.sql`select * from tool_calls where tenant_id = ${s.tenant.id} and id = ${id}`;
    expect(row).toMatchObject({ status: 'succeeded', arguments: args('sdk-happy') });
    expect(row!.sealed_input).toMatch(/^v1\./);
    // Audit: one row per round (the keys asked, no call yet), then the call's own rows.
    const rounds = await s.db.sql`select action, decision, reason from audit_events
      where tenant_id = ${s.tenant.id} and tool = 'echo_ask' and call_id is null and action = 'tool_call.input_required' order by id`;
    expect(rounds.map((r) => r.reason)).toEqual(expect.arrayContaining(['round:1 asked:pin', 'round:2 asked:word']));
    const own = await s.db.sql`select action, decision from audit_events where tenant_id = ${s.tenant.id} and call_id = ${id} order by id`;
    expect(own.map((r) => `${r.action as string}:${r.decision as string}`)).toEqual(['tool_call.accepted:allow', 'tool_call.succeeded:allow']);
    const audit = await s.db.sql`select * from audit_events where tenant_id = ${s.tenant.id}`;
    expectNoSecrets(secrets, {
      'the call row': JSON.stringify(row),
      'the audit rows': JSON.stringify(audit),
      'the Redis job': await s.redisValues(),
      'the logs': logs.lines,
      'the result': JSON.stringify(res),
    });
  });
});

describe('a requestState holds for its own request only', () => {
  /** Round 1 then round 2 of echo_ask as alice: the state of the final round. */
  async function finalState(message: string) {
    const r1 = await call(s, 'alice', { name: 'echo_ask', arguments: args(message) });
    expect(r1.result).toMatchObject({ resultType: 'input_required', inputRequests: { pin: { method: 'elicitation/create' } } });
    const r2 = await call(s, 'alice', {
      name: 'echo_ask',
      arguments: args(message),
      inputResponses: { pin: accept('1234') },
      requestState: r1.result!.requestState,
    });
    expect(r2.result).toMatchObject({ resultType: 'input_required', inputRequests: { word: { method: 'elicitation/create' } } });
    expect(r2.result!.requestState).not.toBe(r1.result!.requestState);
    return r2.result!.requestState!;
  }
  const refused = (r: Rpc, what: RegExp) => {
    expect(r.result).toBeUndefined();
    expect(r.error?.code).toBe(-32602);
    expect(r.error?.message).toMatch(what);
  };
  const final = (state: string, o: { user?: string; stack?: Stack; name?: string; arguments?: unknown; clientId?: string } = {}) =>
    rpc(
      o.stack ?? s,
      o.user ?? 'alice',
      'tools/call',
      { name: o.name ?? 'echo_ask', arguments: o.arguments ?? args('state'), inputResponses: { word: accept('w') }, requestState: state },
      o.clientId ? { clientId: o.clientId } : {},
    );

  it('refuses a tampered, another user’s, another tenant’s, another app’s, another tool’s, other arguments’ and an expired state, recording nothing', async () => {
    const state = await finalState('state');
    const before = await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`;
    const middle = Math.floor(state.length / 2);
    const flipped = state.slice(0, middle) + (state[middle] === 'A' ? 'B' : 'A') + state.slice(middle + 1);
    refused(await final(flipped), /requestState does not belong/);
    refused(await final(`${state}-TAMPERED`), /requestState does not belong/);
    refused(await final(state, { user: 'bob' }), /requestState does not belong/);
    refused(await final(state, { stack: other }), /requestState does not belong/);
    refused(await final(state, { clientId: 'another-app' }), /requestState does not belong/);
    refused(await final(state, { name: 'test_input_required_result_elicitation', arguments: {} }), /requestState does not belong/);
    refused(await final(state, { arguments: args('other arguments') }), /requestState does not belong/);
    // Expired: a state sealed exactly as the API seals one, 1 s past its expiry.
    const user = (await s.scope.users.bySubject(s.idp.issuer, 'alice'))!;
    const expired = sealRequestState(
      s.keyring,
      { tenantId: s.tenant.id, userId: user.id, clientId: 'mcprt-test-harness', tool: 'echo_ask' },
      { v: 1, h: requestHash(s.keyring, 'echo_ask', args('state')), r: 2, exp: Date.now() - 1_000, n: 'x', s: { pin: accept('1234') } },
    );
    refused(await final(expired), /requestState has expired/);
    const after = await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id}`;
    expect(after[0]!.n).toBe(before[0]!.n);
    // The real state still works for its own request.
    expect((await final(state)).result).toMatchObject({ structuredContent: { answersSha256: { pin: sha256('1234'), word: sha256('w') } } });
  });

  it('missing answers are asked again, unknown and extra ones ignored, a wrong shape or a huge body refused', async () => {
    const r1 = await call(s, 'alice', { name: 'echo_ask', arguments: args('shapes') });
    const state = r1.result!.requestState!;
    const again = await call(s, 'alice', { name: 'echo_ask', arguments: args('shapes'), requestState: state });
    expect(again.result).toMatchObject({ resultType: 'input_required', inputRequests: { pin: {} } });
    const unknown = await call(s, 'alice', { name: 'echo_ask', arguments: args('shapes'), requestState: state, inputResponses: { nope: accept('x') } });
    expect(Object.keys(unknown.result!.inputRequests!)).toEqual(['pin']);
    const extra = await call(s, 'alice', {
      name: 'echo_ask',
      arguments: args('shapes'),
      requestState: state,
      inputResponses: { pin: accept('1'), word: accept('early'), nope: accept('x') },
    });
    // `word` was not asked yet in this round: ignored, and asked next.
    expect(Object.keys(extra.result!.inputRequests!)).toEqual(['word']);
    refused(
      await call(s, 'alice', { name: 'echo_ask', arguments: args('shapes'), requestState: state, inputResponses: { pin: { action: 'maybe' } } }),
      /input response "pin" does not answer/,
    );
    const huge = 'x'.repeat(100_000);
    refused(
      await call(s, 'alice', { name: 'echo_ask', arguments: args('shapes'), requestState: state, inputResponses: { pin: accept(huge) } }),
      /input responses are larger than 65536 bytes/,
    );
  });

  it('a token without the tool’s scope is asked nothing: refused as any call would be (the scope challenge)', async () => {
    const r = await rpc(s, 'alice', 'tools/call', { name: 'echo_ask', arguments: args('no-scope') }, { scope: 'tools:multi_input' });
    expect(r.result).toBeUndefined();
    expect(JSON.stringify(r)).toContain('insufficient_scope');
  });

  it('the same final state sent 8 times at once records one call: every answer is that call', async () => {
    const state = await finalState('eight');
    const answers = await Promise.all(
      Array.from({ length: 8 }, () =>
        call(s, 'alice', { name: 'echo_ask', arguments: args('eight'), inputResponses: { word: accept('w8') }, requestState: state }),
      ),
    );
    const ids = new Set(answers.map((a) => (a.result?._meta as Record<string, { id: string }> | undefined)?.['io.mcprt/call']?.id));
    expect(ids.size).toBe(1);
    expect([...ids][0]).toMatch(/^call_/);
    const rows = await s.db.sql`select id from tool_calls where tenant_id = ${s.tenant.id} and tool = 'echo_ask' and arguments->>'message' = 'eight'`;
    expect(rows.length).toBe(1);
  });
});

describe('a task waiting for input (tasks/update)', () => {
  it('answered one key at a time, only by its own user; audited per answer; then run', async () => {
    const created = await rpc(s, 'alice', 'tools/call', { name: 'multi_input', arguments: {} }, { tasks: true });
    expect(created.result).toMatchObject({ resultType: 'task', status: 'input_required' });
    const taskId = created.result!.taskId as string;
    const got = await rpc(s, 'alice', 'tasks/get', { taskId }, { tasks: true });
    expect(Object.keys(got.result!.inputRequests!)).toEqual(['first', 'second']);
    // Bob cannot see or answer alice's task.
    expect((await rpc(s, 'bob', 'tasks/update', { taskId, inputResponses: { first: accept('b') } }, { tasks: true })).error?.code).toBe(-32602);
    await rpc(s, 'alice', 'tasks/update', { taskId, inputResponses: { first: { action: 'accept', content: { name: 'Ann' } } } }, { tasks: true });
    const partial = await rpc(s, 'alice', 'tasks/get', { taskId }, { tasks: true });
    expect(partial.result).toMatchObject({ status: 'input_required' });
    expect(Object.keys(partial.result!.inputRequests!)).toEqual(['second']);
    await rpc(s, 'alice', 'tasks/update', { taskId, inputResponses: { second: { action: 'accept', content: { name: 'Bo' } } } }, { tasks: true });
    const done = await waitFor('task completed', async () => {
      const t = await rpc(s, 'alice', 'tasks/get', { taskId }, { tasks: true });
      return t.result?.status === 'completed' ? t.result : undefined;
    });
    expect(JSON.stringify(done.result)).toContain('Got Ann and Bo.');
    const audit = await s.db.sql`select action, decision, reason from audit_events where tenant_id = ${s.tenant.id} and call_id = ${taskId} order by id`;
    expect(audit.map((r) => `${r.action as string}:${r.decision as string}:${(r.reason as string | null) ?? ''}`)).toEqual([
      'tool_call.input_requested:info:',
      'tool_call.input_received:info:answered:first',
      'tool_call.input_received:allow:answered:second complete',
      'tool_call.succeeded:allow:',
    ]);
  });
});

describe('a task nobody answers', () => {
  it('fails input_expired at its deadline, never runs, and takes no answer after', async () => {
    const created = await rpc(s, 'alice', 'tools/call', { name: 'multi_input', arguments: {} }, { tasks: true });
    const taskId = created.result!.taskId as string;
    const [row] = await s.db.sql`select input_expires_at from tool_calls where tenant_id = ${s.tenant.id} and id = ${taskId}`;
    // The deadline is APPROVAL_TTL_S (default 900 s) away; the test moves it to now.
    expect(new Date(row!.input_expires_at as string).getTime()).toBeGreaterThan(Date.now() + 800_000);
    await s.db.sql`update tool_calls set input_expires_at = now() where tenant_id = ${s.tenant.id} and id = ${taskId}`;
    const failed = await waitFor('input expired', async () => {
      const [r] = await s.db.sql`select status, error, attempt from tool_calls where tenant_id = ${s.tenant.id} and id = ${taskId}`;
      return r!.status === 'failed' ? r : undefined;
    });
    expect(failed).toMatchObject({ error: { code: 'input_expired' }, attempt: 0 });
    await rpc(s, 'alice', 'tasks/update', { taskId, inputResponses: { first: accept('late'), second: accept('late') } }, { tasks: true });
    const task = await rpc(s, 'alice', 'tasks/get', { taskId }, { tasks: true });
    expect(task.result).toMatchObject({ status: 'completed', result: { isError: true } });
    const audit = await s.db.sql`select action, decision from audit_events where tenant_id = ${s.tenant.id} and call_id = ${taskId} order by id`;
    expect(audit.map((r) => `${r.action as string}:${r.decision as string}`)).toEqual(['tool_call.input_requested:info', 'tool_call.input_expired:deny']);
  });
});

describe('a 2025-11-25 client', () => {
  it('declaring elicitation: asked on the call’s own response stream, round after round; another user’s forged answer is not taken', async () => {
    const token = await s.token('alice', { scope: SCOPES });
    const bob = await s.token('bob', { scope: SCOPES });
    const client = new ClientV1({ name: 'mrtr-legacy', version: '1' }, { capabilities: { elicitation: {} } });
    const seen: string[] = [];
    client.setRequestHandler(ElicitRequestSchema, async (req, extra) => {
      seen.push(String(extra.requestId));
      // Bob answers first, with alice's request id: his answer is his, not hers, and is not taken.
      const forged = await s.post(
        { jsonrpc: '2.0', id: extra.requestId, result: { action: 'accept', content: { value: 'forged' } } },
        { authorization: `Bearer ${bob}`, 'mcp-protocol-version': '2025-11-25' },
      );
      expect(forged.status).toBeLessThan(500);
      const field = /"(\w+)"/.exec(req.params.message)![1]!;
      return { action: 'accept', content: { value: `legacy-${field}` } };
    });
    await client.connect(new TransportV1(new URL(s.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
    const res = (await client.callTool({ name: 'echo_ask', arguments: args('legacy-rounds') })) as { structuredContent?: Record<string, unknown> };
    await client.close();
    expect(seen).toHaveLength(2);
    expect(seen.every((id) => id.startsWith('mcprt-input-'))).toBe(true);
    expect(res.structuredContent).toMatchObject({ answersSha256: { pin: sha256('legacy-pin'), word: sha256('legacy-word') } });
  });

  it('its answer reaching another API replica is relayed (Redis) to the replica whose call waits for it', async () => {
    const port = await freePort();
    // Same PUBLIC_URL, database and Redis, another process: a second replica behind the same balancer.
    const replica: AppProcess = spawnApp('api', { ...s.env, PORT: String(port) });
    try {
      await replica.ready;
      const token = await s.token('alice', { scope: SCOPES });
      const elsewhere = new URL(s.mcpUrl);
      elsewhere.port = String(port);
      let relayed = 0;
      // The balancer: the client's answers (JSON-RPC responses) go to the other replica, the rest to the first.
      const balancer: typeof fetch = async (url, init) => {
        const body = typeof init?.body === 'string' ? init.body : '';
        if (body.includes('"mcprt-input-') && !body.includes('"method"')) {
          relayed++;
          return fetch(elsewhere, init);
        }
        return fetch(url, init);
      };
      const client = new ClientV1({ name: 'mrtr-replicas', version: '1' }, { capabilities: { elicitation: {} } });
      client.setRequestHandler(ElicitRequestSchema, async (req) => ({
        action: 'accept',
        content: { value: `replica-${/"(\w+)"/.exec(req.params.message)![1]!}` },
      }));
      await client.connect(new TransportV1(new URL(s.mcpUrl), { fetch: balancer, requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
      const res = (await client.callTool({ name: 'echo_ask', arguments: args('legacy-replicas') })) as { structuredContent?: Record<string, unknown> };
      await client.close();
      expect(relayed).toBe(2);
      expect(res.structuredContent).toMatchObject({ answersSha256: { pin: sha256('replica-pin'), word: sha256('replica-word') } });
    } finally {
      replica.child.kill('SIGTERM');
      await replica.exited;
    }
  });

  it('not declaring elicitation: a tool error naming it, and nothing is recorded', async () => {
    const client = await s.client(await s.token('alice', { scope: SCOPES }), { kind: 'v2-legacy' });
    const res = await client.callTool({ name: 'echo_ask', arguments: args('legacy') });
    expect(res).toMatchObject({ isError: true, _meta: { 'io.mcprt/error': { code: 'input_unsupported' } } });
    expect(JSON.stringify(res)).toContain('did not declare');
    const rows = await s.db.sql`select id from tool_calls where tenant_id = ${s.tenant.id} and arguments->>'message' = 'legacy'`;
    expect(rows.length).toBe(0);
  });
});
