import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';
import { sleep } from './harness/wait-for.js';
import { openRedis } from './harness/redis.js';

/** Two users of one tenant each get their own identity, via their own token. */
describe('whoami: end to end, per user', () => {
  let s: Stack;
  const upstream: Record<string, string> = {};

  beforeAll(async () => {
    s = await startStack({ label: 'whoami' });
    upstream.alice = (await s.connectUser('alice')).upstreamAccessToken;
    upstream.bob = (await s.connectUser('bob')).upstreamAccessToken;
  });
  afterAll(() => s?.close());

  it("lists the tenant's tools with JSON Schemas from their zod schemas", async () => {
    const client = await s.client(await s.token('alice'));
    const { tools } = await client.listTools();
    expect(tools.map((t) => t.name).sort()).toEqual(['echo', 'tool_call_result', 'web_search', 'whoami']);
    const search = tools.find((t) => t.name === 'web_search')!;
    expect(search.inputSchema.type).toBe('object');
    expect(search.inputSchema.required).toEqual(['query']);
    // The tool's own output, or the "still running" answer of a call that outlives the wait.
    const [own, pending] = (search.outputSchema as { anyOf: { properties: Record<string, unknown> }[] }).anyOf;
    expect(own!.properties).toHaveProperty('results');
    expect(pending!.properties).toHaveProperty('callId');
  });

  it('each user gets their own identity, read from the IdP with their own upstream token', async () => {
    const [a, b] = await Promise.all(['alice', 'bob'].map(async (sub) => (await s.client(await s.token(sub))).callTool({ name: 'whoami', arguments: {} })));
    const alice = CallToolResultSchema.parse(a);
    const bob = CallToolResultSchema.parse(b);
    expect(alice.isError).toBeFalsy();
    expect(alice.structuredContent).toMatchObject({ subject: 'alice', email: 'alice@example.test', issuer: s.idp.issuer, tenant: s.tenant.slug });
    expect(bob.structuredContent).toMatchObject({ subject: 'bob', email: 'bob@example.test' });
    expect((alice.structuredContent as { grantedScopes: string[] }).grantedScopes).toEqual(expect.arrayContaining(['openid', 'email', 'profile']));
    expect((alice.structuredContent as { tokenExpiresAt: string }).tokenExpiresAt).toMatch(/^\d{4}-\d\d-\d\dT/);
    // The token is never part of the result.
    const text = JSON.stringify(a) + JSON.stringify(b);
    expect(text).not.toContain(upstream.alice);
    expect(text).not.toContain(upstream.bob);
  });

  it("a user whose upstream token is someone else's is caught (userinfo sub must match)", async () => {
    // Copy bob's sealed credential onto carol's row: the seal is bound to bob's row, so it does not even open.
    const carol = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: 'carol' });
    const bobUser = (await s.scope.users.bySubject(s.idp.issuer, 'bob'))!;
    const bobCred = (await s.scope.credentials.get(bobUser.id, 'idp'))!;
    await s.scope.credentials.put(crypto.randomUUID(), {
      userId: carol.id,
      provider: 'idp',
      accessTokenSealed: bobCred.accessTokenSealed,
      refreshTokenSealed: null,
      expiresAt: null,
      scopes: ['openid'],
      keyId: bobCred.keyId,
    });
    const res = CallToolResultSchema.parse(await (await s.client(await s.token('carol'))).callTool({ name: 'whoami', arguments: {} }));
    expect(res.isError).toBe(true);
    expect(JSON.stringify(res.content)).not.toContain('bob@example.test');
    const call = (await s.db.sql`select status, error from tool_calls where tenant_id = ${s.tenant.id} and user_id = ${carol.id}`)[0]!;
    expect(call.status).toBe('failed');
    expect(call.error.code).toBe('seal_invalid');
    expect(call.error.message).toBe('internal error'); // details of a crypto failure stay in the log
  });

  it('the job in Redis carries no token in clear, only a sealed one', async () => {
    // Stop the worker so the job stays in Redis where we can read it.
    await s.stopWorker();
    try {
      const client = await s.client(await s.token('alice'));
      // Do not wait: start the call and look at the queue while it is pending.
      const pending = client.callTool({ name: 'whoami', arguments: {} }, { timeout: 60_000 });
      // The call just recorded (the only queued one: the worker is stopped), then its job hash.
      let raw: string | null = null;
      const redis = openRedis(s.config);
      for (let i = 0; i < 100 && !raw; i++) {
        const [row] = await s.db.sql`select id from tool_calls where tenant_id = ${s.tenant.id} and status = 'queued' and tool = 'whoami'`;
        if (row) raw = await redis.hget(`${s.config.QUEUE_PREFIX}:tool-calls:${row.id}`, 'data');
        if (!raw) await sleep(50);
      }
      await redis.quit();
      expect(raw).toBeTruthy();
      const payload = JSON.parse(raw!);
      expect(payload.v).toBe(1);
      expect(payload.credential.sealedAccessToken).toMatch(/^v1\.k1\./);
      expect(raw).not.toContain(upstream.alice);
      // Finish the call so nothing is left hanging.
      await s.startWorker();
      const res = CallToolResultSchema.parse(await pending);
      expect(res.structuredContent).toMatchObject({ subject: 'alice' });
    } finally {
      if (!s.worker) await s.startWorker();
    }
  });

  it('writes audit rows per user: accepted and succeeded for each call', async () => {
    const rows = await s.db.sql`
      select u.subject, a.action, a.decision, a.call_id from audit_events a join users u on u.id = a.user_id
      where a.tenant_id = ${s.tenant.id} and a.tool = 'whoami' order by a.id`;
    for (const sub of ['alice', 'bob']) {
      const mine = rows.filter((r) => r.subject === sub);
      expect(mine.filter((r) => r.action === 'tool_call.accepted').length).toBeGreaterThanOrEqual(1);
      expect(mine.filter((r) => r.action === 'tool_call.succeeded').length).toBeGreaterThanOrEqual(1);
      // Every succeeded row belongs to a call this same user had accepted.
      const accepted = new Set(mine.filter((r) => r.action === 'tool_call.accepted').map((r) => r.call_id));
      for (const r of mine.filter((x) => x.action === 'tool_call.succeeded')) expect(accepted.has(r.call_id)).toBe(true);
    }
  });
});
