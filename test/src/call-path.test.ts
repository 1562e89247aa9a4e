import { CALL_META, type CallMeta } from '@mcprt/api';
import { CALL_DONE_CHANNEL } from '@mcprt/calls';
import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCAVIO_RATE_LIMIT_QUERY } from '../doubles/scavio.js';
import { startStack, type Stack } from './harness/stack.js';
import { sleep, waitFor } from './harness/wait-for.js';
import { openRedis } from './harness/redis.js';

const count = async (s: Stack, table: 'tool_calls' | 'audit_events') =>
  (await s.db.sql`select count(*)::int as n from ${s.db.sql(table)} where tenant_id = ${s.tenant.id}`)[0]!.n as number;

describe('tools/call: validation, recording, answers', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'path', env: { CALL_WAIT_MS: '1500' } });
    await s.connectUser('alice');
  });
  afterAll(() => s?.close());

  it('bad arguments → isError naming the field; nothing recorded, nothing queued', async () => {
    const client = await s.client(await s.token('alice'));
    const before = [await count(s, 'tool_calls'), await count(s, 'audit_events')];
    const r1 = CallToolResultSchema.parse(await client.callTool({ name: 'web_search', arguments: { query: '', page: 99 } }));
    expect(r1.isError).toBe(true);
    const text = (r1.content[0] as { text: string }).text;
    expect(text).toContain('query');
    expect(text).toContain('page');
    const r2 = CallToolResultSchema.parse(await client.callTool({ name: 'web_search', arguments: { query: 'ok', surprise: 1 } }));
    expect((r2.content[0] as { text: string }).text).toContain('surprise');
    const r3 = CallToolResultSchema.parse(await client.callTool({ name: 'echo', arguments: { message: 42 } }));
    expect((r3.content[0] as { text: string }).text).toMatch(/message: .*string/);
    expect([await count(s, 'tool_calls'), await count(s, 'audit_events')]).toEqual(before);
  });

  it('an unknown or disabled tool is a JSON-RPC error', async () => {
    const client = await s.client(await s.token('alice'));
    await expect(client.callTool({ name: 'no_such_tool', arguments: {} })).rejects.toThrow(/Unknown tool/);
  });

  it('web_search runs through Scavio (v2 form, operator key, Bearer) and returns structured results', async () => {
    const client = await s.client(await s.token('alice'));
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'web_search', arguments: { query: 'mcp oauth', page: 2, country: 'DE' } }));
    expect(res.isError).toBeFalsy();
    const out = res.structuredContent as { query: string; results: Array<{ position: number; title: string; link: string; snippet: string }> };
    expect(out.query).toBe('mcp oauth');
    expect(out.results.length).toBeGreaterThan(0);
    expect(out.results[0]).toEqual({
      position: expect.any(Number),
      title: expect.any(String),
      link: expect.stringMatching(/^https?:/),
      snippet: expect.any(String),
    });
    const req = s.scavio.requests.at(-1)!;
    expect(req.path).toBe('/api/v2/google');
    expect(req.headers.authorization).toBe('Bearer sk_test_double_key');
    expect(req.body).toMatchObject({ query: 'mcp oauth', start: 10, gl: 'de' });
    // The user's MCP token never goes upstream (no passthrough).
    expect(JSON.stringify(s.scavio.requests)).not.toContain('eyJ');
  });

  it('an upstream 429 is not hung and spends no attempt: the call waits for Retry-After', async () => {
    // carol: her web_search calls are paused for the double's Retry-After (30 s) afterwards.
    const client = await s.client(await s.token('carol'));
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'web_search', arguments: { query: SCAVIO_RATE_LIMIT_QUERY } }));
    // Still running is not an error: a plain result, conforming to the advertised output schema.
    expect(res.isError).toBeFalsy();
    expect(res.structuredContent).toMatchObject({ callStatus: expect.stringMatching(/queued|running/), resultTool: 'tool_call_result' });
    const meta = res._meta?.[CALL_META] as CallMeta;
    // Not failed: waiting (the answer after CALL_WAIT_MS names the call and its poll URL).
    expect(['queued', 'running']).toContain(meta.status);
    expect((res.content[0] as { text: string }).text).toContain(meta.id);
    // The job waits for Retry-After in the delayed set, no attempt spent (not retried at once).
    const redis = openRedis(s.config);
    const queue = new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix: s.config.QUEUE_PREFIX });
    try {
      const job = (await queue.getJob(meta.id))!;
      // A lone call on an idle API: its job left through the admission gate, and says so.
      expect(job.name).toBe('web_search@gated');
      expect(await job.getState()).toBe('delayed');
      expect(job.attemptsMade).toBe(0);
      expect(job.delay).toBeGreaterThan(25_000);
    } finally {
      await queue.close();
      await redis.quit();
    }
    expect(s.scavio.requests.some((r) => (r.body as { query?: string }).query === SCAVIO_RATE_LIMIT_QUERY)).toBe(true);
  });

  it('the bell carries the final state when it fits, else only the id; the answer is the committed row either way', async () => {
    const heard: string[] = [];
    const sub = await s.db.sql.listen(CALL_DONE_CHANNEL, (p) => heard.push(p));
    try {
      const client = await s.client(await s.token('alice'));
      // 3,000 '€' are 9,000 bytes of UTF-8: over the bell's limit, though only 3,000 characters.
      for (const message of ['small', '€'.repeat(3_000)]) {
        const res = CallToolResultSchema.parse(await client.callTool({ name: 'echo', arguments: { message } }));
        const meta = res._meta?.[CALL_META] as CallMeta;
        expect(meta.status).toBe('succeeded');
        expect(res.structuredContent).toEqual({ message, ranAs: 'alice' });
        const [row] = await s.db.sql`select result, status from tool_calls where tenant_id = ${s.tenant.id} and id = ${meta.id}`;
        expect(row).toEqual({ result: res.structuredContent, status: 'succeeded' });
        for (let i = 0; i < 50 && !heard.some((p) => p.startsWith(meta.id)); i++) await sleep(20);
        const bell = heard.find((p) => p.startsWith(meta.id))!;
        if (message === 'small') {
          expect(bell.length).toBeLessThan(8000);
          expect(JSON.parse(bell.slice(meta.id.length + 1))).toMatchObject({ status: 'succeeded', result: { message, ranAs: 'alice' }, error: null });
        } else {
          expect(bell).toBe(meta.id);
        }
      }
    } finally {
      await sub.unlisten();
    }
  });

  it('a client that hangs up while its call runs does not lose the call', async () => {
    const controller = new AbortController();
    const sent = fetch(s.mcpUrl, {
      method: 'POST',
      signal: controller.signal,
      headers: { authorization: `Bearer ${await s.token('alice')}`, 'content-type': 'application/json', accept: 'application/json, text/event-stream' },
      body: JSON.stringify({ jsonrpc: '2.0', id: 9, method: 'tools/call', params: { name: 'echo', arguments: { message: 'hung-up', delayMs: 300 } } }),
    });
    await sleep(100);
    controller.abort();
    await expect(sent).rejects.toThrow();
    await waitFor(
      'the hung-up call to succeed',
      async () => {
        const rows = await s.db.sql`select status from tool_calls where tenant_id = ${s.tenant.id} and arguments->>'message' = 'hung-up'`;
        return rows[0]?.status === 'succeeded' ? true : undefined;
      },
      5_000,
      100,
    );
  });

  it('a call longer than the wait returns the call id and state; GET polls it to the result', async () => {
    const token = await s.token('alice');
    const client = await s.client(token);
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'echo', arguments: { message: 'slow', delayMs: 2500 } }));
    const meta = res._meta?.[CALL_META] as CallMeta;
    expect(meta.status).toMatch(/queued|running/);
    expect(meta.id).toMatch(/^call_[A-Za-z0-9_-]{22}$/);
    expect(meta.pollUrl).toBe(`${s.config.PUBLIC_URL}/t/${s.tenant.slug}/v1/tool-calls/${meta.id}`);
    expect((res.content[0] as { text: string }).text).toContain(meta.id);

    let view: { status: string; result: { structuredContent?: unknown } | null } | undefined;
    for (let i = 0; i < 50; i++) {
      const r = await fetch(meta.pollUrl, { headers: { authorization: `Bearer ${token}` } });
      expect(r.status).toBe(200);
      view = (await r.json()) as typeof view;
      if (view!.status === 'succeeded') break;
      await sleep(200);
    }
    expect(view!.status).toBe('succeeded');
    expect(view!.result?.structuredContent).toEqual({ message: 'slow', ranAs: 'alice' });

    // Another user of the same tenant, or no token, cannot see it: 404 (not 403) / 401.
    const asBob = await fetch(meta.pollUrl, { headers: { authorization: `Bearer ${await s.token('bob')}` } });
    expect(asBob.status).toBe(404);
    expect((await fetch(meta.pollUrl)).status).toBe(401);
    const missing = await fetch(meta.pollUrl.replace(meta.id, 'call_AAAAAAAAAAAAAAAAAAAAAA'), { headers: { authorization: `Bearer ${token}` } });
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ error: 'call_not_found' });
  });

  it('a tool that needs an upstream account the user has not connected is refused and audited', async () => {
    const client = await s.client(await s.token('bob')); // bob never connected
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(res.isError).toBe(true);
    expect((res.content[0] as { text: string }).text).toMatch(/not connected/);
    const rows = await s.db
      .sql`select a.reason from audit_events a join users u on u.id = a.user_id where a.tenant_id = ${s.tenant.id} and u.subject = 'bob' and a.decision = 'deny'`;
    expect(rows.map((r) => r.reason)).toContain('credential_unavailable');
  });

  it('the same idempotency key returns the same call', async () => {
    const client = await s.client(await s.token('alice'));
    const call = (key: string) => client.callTool({ name: 'echo', arguments: { message: 'once' }, _meta: { 'io.mcprt/idempotency-key': key } });
    const a = CallToolResultSchema.parse(await call('k-1'));
    const b = CallToolResultSchema.parse(await call('k-1'));
    expect((a._meta?.[CALL_META] as CallMeta).id).toBe((b._meta?.[CALL_META] as CallMeta).id);
  });
});

describe('admission and unavailable tools', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'admit', worker: 'none', env: { CALL_WAIT_MS: '100', SCAVIO_API_KEY: '' } });
    await s.db.sql`update tenants set limits = jsonb_set(limits, '{pendingCap}', '2') where id = ${s.tenant.id}`;
  });
  afterAll(() => s?.close());

  it('a user over the pending cap is refused with a retryable message; other users are not affected', async () => {
    const alice = await s.client(await s.token('alice'));
    for (let i = 0; i < 2; i++) await alice.callTool({ name: 'echo', arguments: { message: String(i) } });
    const third = CallToolResultSchema.parse(await alice.callTool({ name: 'echo', arguments: { message: '3' } }));
    expect(third.isError).toBe(true);
    expect((third.content[0] as { text: string }).text).toMatch(/Too many calls in progress \(2, limit 2\)/);
    const bob = CallToolResultSchema.parse(await (await s.client(await s.token('bob'))).callTool({ name: 'echo', arguments: { message: 'b' } }));
    expect((bob._meta?.[CALL_META] as CallMeta).status).toBe('queued');
    // The refused call's job, added behind the admission gate while its row was being recorded, is
    // removed again: only the three recorded calls wait in the queue (no worker runs in this stack).
    const rows = await s.db.sql`select id from tool_calls where tenant_id = ${s.tenant.id}`;
    expect(rows).toHaveLength(3);
    const redis = openRedis(s.config);
    const queue = new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix: s.config.QUEUE_PREFIX });
    try {
      const waiting = await waitFor('refused job removed', async () => {
        const ids = (await queue.getJobs(['waiting', 'prioritized', 'delayed', 'active', 'completed'])).map((j) => j.id);
        return ids.length === 3 ? ids : undefined;
      });
      expect([...waiting].sort()).toEqual(rows.map((r) => r.id as string).sort());
    } finally {
      await queue.close();
      await redis.quit();
    }
  });

  it('web_search without an operator key fails with a clear "unavailable" message, not a fake answer', async () => {
    await s.startWorker();
    const res = CallToolResultSchema.parse(await (await s.client(await s.token('bob'))).callTool({ name: 'web_search', arguments: { query: 'x' } }, {}));
    // The wait is short here; poll the row.
    const id = (res._meta?.[CALL_META] as CallMeta).id;
    let row;
    for (let i = 0; i < 50; i++) {
      row = (await s.scope.toolCalls.byId(id))!;
      if (row.status === 'failed') break;
      await sleep(100);
    }
    expect(row!.status).toBe('failed');
    expect(row!.error).toMatchObject({ code: 'tool_unavailable', retryable: false });
    expect(row!.error!.message).toMatch(/no.*Scavio API key|not configured a Scavio API key/);
  });
});
