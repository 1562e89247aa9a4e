import { CALL_META, type CallMeta } from '@mcprt/api';
import type { RedisClient } from '@mcprt/redis';
import { TOOL_CALLS_QUEUE } from '@mcprt/calls';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCAVIO_RATE_LIMIT_QUERY } from '../doubles/scavio.js';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { startStack, type Stack } from './harness/stack.js';
import { openRedis } from './harness/redis.js';

/**
 * Worker side: an upstream 429 with Retry-After slows that user at that provider
 * only, the job waits without spending an attempt, and other users' calls keep their latency.
 * Two worker processes; the Scavio double answers 429 + `Retry-After: 30` for its rate-limit query.
 */
describe('upstream 429 → only that user at that provider waits', () => {
  let s: Stack;
  let redis: RedisClient;
  let queue: Queue;
  const workers: AppProcess[] = [];
  beforeAll(async () => {
    s = await startStack({
      label: 'up429',
      extraSubjects: ['dave'],
      worker: 'none',
      env: { CALL_WAIT_MS: '3000' },
    });
    redis = openRedis(s.config);
    queue = new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix: s.config.QUEUE_PREFIX });
    for (let i = 0; i < 2; i++) workers.push(spawnApp('worker', s.env));
    await Promise.all(workers.map((w) => w.ready));
  }, 60_000);
  afterAll(async () => {
    for (const w of workers) w.child.kill('SIGKILL');
    await queue?.close();
    await redis?.quit();
    await s?.close();
  });

  const search = async (sub: string, query: string) => {
    const client = await s.client(await s.token(sub));
    const t0 = performance.now();
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'web_search', arguments: { query } }, { timeout: 20_000 }));
    return { res, ms: performance.now() - t0, meta: res._meta?.[CALL_META] as CallMeta };
  };

  it("U's 429 pauses U's calls at that provider for Retry-After, V keeps its latency, no attempt spent", async () => {
    const before = await search('bob', 'warm up');
    expect(before.res.isError ?? false).toBe(false);

    const limited = await search('alice', SCAVIO_RATE_LIMIT_QUERY);
    expect(limited.meta.status).not.toBe('failed'); // waiting, not failed
    const job = (await queue.getJob(limited.meta.id))!;
    expect(await job.getState()).toBe('delayed');
    expect(job.attemptsMade).toBe(0); // no attempt spent
    // Delayed by Retry-After (30 s), give or take the time since.
    expect(job.delay).toBeGreaterThan(25_000);

    // U's next call of that provider waits too (still queued after the wait window) …
    const next = await search('alice', 'ordinary query');
    expect(next.meta.status).toBe('queued');
    expect(next.ms).toBeGreaterThanOrEqual(2_900);
    // … while V's calls keep flowing with their latency.
    for (let i = 0; i < 5; i++) {
      const v = await search('bob', `query ${i}`);
      expect(v.res.isError ?? false).toBe(false);
      expect(v.ms).toBeLessThan(1_500);
    }
    // And U's calls of other tools are not slowed.
    const echo = CallToolResultSchema.parse(await (await s.client(await s.token('alice'))).callTool({ name: 'echo', arguments: { message: 'hi' } }));
    expect(echo.isError ?? false).toBe(false);
  }, 60_000);

  it('a per-user per-upstream budget: over it, the call waits for the window without spending an attempt; another user is unaffected', async () => {
    await s.db.sql`update tenants set limits = limits || ${JSON.stringify({ perUserUpstreamPerMinute: 2 })}::jsonb where id = ${s.tenant.id}`;
    // The worker processes cache the tenant for 30 s: restart them to see the budget now.
    for (const w of workers.splice(0)) w.child.kill('SIGKILL');
    for (let i = 0; i < 2; i++) workers.push(spawnApp('worker', s.env));
    await Promise.all(workers.map((w) => w.ready));
    for (const sub of ['carol', 'dave']) await s.connectUser(sub);
    const who = async (sub: string) => {
      const client = await s.client(await s.token(sub));
      const res = CallToolResultSchema.parse(await client.callTool({ name: 'whoami', arguments: {} }, { timeout: 20_000 }));
      return { res, meta: res._meta?.[CALL_META] as CallMeta };
    };
    for (let i = 0; i < 2; i++) expect((await who('carol')).res.isError ?? false).toBe(false);
    const third = await who('carol');
    expect(third.meta.status).toBe('queued');
    const job = (await queue.getJob(third.meta.id))!;
    expect(await job.getState()).toBe('delayed');
    expect(job.attemptsMade).toBe(0);
    // dave has his own budget.
    for (let i = 0; i < 2; i++) expect((await who('dave')).res.isError ?? false).toBe(false);
  }, 60_000);
});
