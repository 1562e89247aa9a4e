import { publish, redisKeys, type RedisClient } from '@mcprt/redis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { startEchoProbe, type EchoProbe, type ProbeEvent } from './harness/echo-probe.js';
import { freePort } from './harness/free-port.js';
import { openRedis } from './harness/redis.js';
import { startStack, type Stack } from './harness/stack.js';
import { sleep, waitFor } from './harness/wait-for.js';

/**
 * A 2025-era client cancels a tools/call with `notifications/cancelled`, a POST of its own that names
 * the JSON-RPC id of the call's request. Behind a load balancer that POST may reach another API
 * replica than the one waiting on the call: here two API processes (the test's own and a spawned
 * one) share Postgres and Redis, and each cancel is sent to the replica that does not hold the call.
 * The relay must carry the cancel across, in both directions — and only for the same user through
 * the same app, with the notifying token's own scopes; anything else on its channel is dropped.
 */
const LEGACY = { 'mcp-protocol-version': '2025-11-25' };

describe('2025 notifications/cancelled across API replicas', () => {
  let s: Stack;
  let other: AppProcess;
  let otherUrl: string;
  let probe: EchoProbe;
  let redis: RedisClient;
  const events: ProbeEvent[] = [];
  let nextId = 9000;

  beforeAll(async () => {
    // A long wait: the waiting request stays open (and holds its key) for the whole cancel.
    s = await startStack({ label: 'cancel-relay', env: { CALL_WAIT_MS: '30000' } });
    await s.connectUser('alice');
    await s.connectUser('bob');
    probe = await startEchoProbe(events);
    const port = await freePort();
    other = spawnApp('api', { ...s.env, PORT: String(port) });
    await other.ready;
    otherUrl = `http://127.0.0.1:${port}/t/${s.tenant.slug}/mcp`;
    redis = openRedis(s.config);
  }, 60_000);
  afterAll(async () => {
    other?.child.kill('SIGTERM');
    await other?.exited;
    await redis?.quit();
    await probe?.close();
    await s?.close();
  });

  const statusOf = async (message: string) =>
    (await s.db.sql`select status from tool_calls where tenant_id = ${s.tenant.id} and arguments->>'message' = ${message}`)[0]?.status as string | undefined;

  /** Alice's 2025 tools/call of a 30 s echo at `url`, running in the worker when this resolves. */
  async function longCall(url: string, message: string, token?: string) {
    const id = nextId++;
    const body = { jsonrpc: '2.0', id, method: 'tools/call', params: { name: 'echo', arguments: { message, delayMs: 30_000, probeUrl: probe.url } } };
    const answer = s.post(body, { authorization: `Bearer ${token ?? (await s.token('alice'))}`, ...LEGACY }, url);
    answer.catch(() => undefined);
    await probe.saw('start', message);
    return { id, answer };
  }

  const notify = async (url: string, token: string, requestId: number | string) => {
    const res = await s.post(
      { jsonrpc: '2.0', method: 'notifications/cancelled', params: { requestId, reason: 'stop' } },
      { authorization: `Bearer ${token}`, ...LEGACY },
      url,
    );
    return res.status;
  };

  it('a cancel sent to the other replica stops the call, either way round, and is audited as the user’s', async () => {
    // Held by the test's API, cancelled at the spawned one.
    const here = await longCall(s.mcpUrl, 'held-here');
    expect(await notify(otherUrl, await s.token('alice'), here.id)).toBe(202);
    await probe.saw('aborted', 'held-here');
    await waitFor('cancelled', async () => ((await statusOf('held-here')) === 'cancelled' ? true : undefined));
    expect((await here.answer).status).toBe(200);

    // Held by the spawned API, cancelled at the test's.
    const there = await longCall(otherUrl, 'held-there');
    expect(await notify(s.mcpUrl, await s.token('alice'), there.id)).toBe(202);
    await probe.saw('aborted', 'held-there');
    await waitFor('cancelled', async () => ((await statusOf('held-there')) === 'cancelled' ? true : undefined));

    const audit = await s.db.sql`
      select a.reason, a.request_id from audit_events a join tool_calls c on c.id = a.call_id
      where c.tenant_id = ${s.tenant.id} and c.arguments->>'message' = 'held-there' and a.action = 'tool_call.cancelled'`;
    expect(audit).toHaveLength(1);
    const [alice] = await s.db.sql`select id from users where tenant_id = ${s.tenant.id} and subject = 'alice'`;
    expect(audit[0]!.reason).toBe(`cancelled_by:user:${alice!.id}`);
    expect(audit[0]!.request_id).toBeTruthy();
  }, 60_000);

  it('another user, another app of the same user, a token without the tool’s scope, a forged or malformed relay message: the call runs on', async () => {
    // Held by the spawned replica (which then listens on the relay channel), notified at the test's.
    const run = await longCall(otherUrl, 'not-yours');
    const channel = redisKeys(s.config.QUEUE_PREFIX).legacyCancelChannel;

    // Bob names Alice's request id.
    expect(await notify(s.mcpUrl, await s.token('bob'), run.id)).toBe(202);
    // Alice, through another app.
    expect(await notify(s.mcpUrl, await s.token('alice', { clientId: 'another-app' }), run.id)).toBe(202);
    // Alice's own app, with a token that may not touch echo calls: the rule is put to the notifying token.
    expect(await notify(s.mcpUrl, await s.token('alice', { scope: 'tools:whoami' }), run.id)).toBe(202);
    // The same id as a string is another request.
    expect(await notify(s.mcpUrl, await s.token('alice'), String(run.id))).toBe(202);
    // Straight onto the channel: garbage, a key without a message, a message with extra fields.
    for (const raw of ['not json', JSON.stringify({ key: 'x' }), JSON.stringify({ key: 'x', scopes: [], requestId: null, admin: true })])
      await publish(redis, channel, raw);
    await sleep(600);
    expect(await statusOf('not-yours')).toBe('running');
    expect(events.some((e) => e.event === 'aborted' && e.message === 'not-yours')).toBe(false);

    // Both replicas still serve, and Alice's own cancel still works.
    expect(await notify(s.mcpUrl, await s.token('alice'), run.id)).toBe(202);
    await probe.saw('aborted', 'not-yours');
    await waitFor('cancelled', async () => ((await statusOf('not-yours')) === 'cancelled' ? true : undefined));
    expect(other.output()).toContain('malformed notifications/cancelled on the relay channel: dropped');
  }, 60_000);
});
