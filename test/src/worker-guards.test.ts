import { CALL_META, type CallMeta } from '@mcprt/api';
import type { RedisClient } from '@mcprt/redis';
import { tenantsRepository } from '@mcprt/db';
import { forTenant, TOOL_CALLS_QUEUE, type ToolCall } from '@mcprt/calls';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { Queue } from 'bullmq';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';
import { namespace } from './harness/test-config.js';
import { waitFor } from './harness/wait-for.js';
import { openRedis } from './harness/redis.js';

/**
 * Worker side: a job is only a pointer to its call row, and the worker
 * re-decides the policy at dequeue with what is stored then. Each test performs the attack against a
 * real worker, Redis and Postgres.
 */

const auditOf = (s: Stack, tenantId: string, callId: string) =>
  s.db.sql`select user_id, action, decision, reason from audit_events where tenant_id = ${tenantId} and call_id = ${callId} order by id`;

describe('a job is bound to its call (forged jobs in Redis)', () => {
  let s: Stack;
  let queue: Queue;
  let redis: RedisClient;
  const upstream: Record<string, string> = {};
  const ids: Record<string, string> = {};
  /** Every Authorization header the worker's tools sent upstream (the IdP's userinfo). */
  const sent: string[] = [];

  beforeAll(async () => {
    // RECONCILE_AFTER_MS: no reconciler re-enqueue between a job's removal and its forged replacement.
    s = await startStack({ label: 'jobbind', worker: 'none', env: { CALL_WAIT_MS: '200', RECONCILE_AFTER_MS: '600000' } });
    for (const sub of ['alice', 'bob']) {
      const c = await s.connectUser(sub);
      upstream[sub] = c.upstreamAccessToken;
      ids[sub] = c.user.id;
    }
    redis = openRedis(s.config);
    // The attacker's view: the same queue name and prefix the API's producer uses (@mcprt/calls).
    queue = new Queue(TOOL_CALLS_QUEUE, { connection: redis, prefix: s.config.QUEUE_PREFIX });
  });
  afterAll(async () => {
    await queue?.close();
    await redis?.quit();
    await s?.close();
  });

  const startObservedWorker = async () => {
    const w = await s.startWorker();
    const egress = w.resources.services.egress;
    const request = egress.request.bind(egress);
    egress.request = (url, init) => {
      sent.push(JSON.stringify(init.headers ?? {}));
      return request(url, init);
    };
    return w;
  };

  /** A call recorded and queued by the API as `sub` (the worker is stopped, so it waits). */
  const queuedCall = async (sub: string, name: string, args: Record<string, unknown> = {}) => {
    await s.stopWorker();
    const res = CallToolResultSchema.parse(await (await s.client(await s.token(sub))).callTool({ name, arguments: args }));
    const meta = res._meta?.[CALL_META] as CallMeta;
    expect(meta.status).toBe('queued');
    return meta.id;
  };

  const credentialOf = async (sub: string) => (await s.scope.credentials.get(ids[sub]!, 'idp'))!;
  const jobCredential = async (sub: string) => {
    const c = await credentialOf(sub);
    return { id: c.id, provider: 'idp', sealedAccessToken: c.accessTokenSealed, scopes: c.scopes, expiresAt: c.expiresAt ? c.expiresAt.toISOString() : null };
  };
  const finalRow = (tenantId: string, id: string) =>
    waitFor(`call ${id} final`, async () => {
      const row = await forTenant(s.db.db, tenantId).toolCalls.byId(id);
      return row && ['succeeded', 'failed', 'cancelled'].includes(row.status) ? row : undefined;
    });

  /** The forged job takes the call's own job slot (the genuine one is removed first). */
  const replaceJob = async (callId: string, data: Record<string, unknown>) => {
    await queue.remove(callId);
    await queue.add('whoami', data, { jobId: callId, attempts: 3 });
  };

  const expectRefused = async (row: ToolCall, owner: string) => {
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ code: 'job_mismatch', retryable: false });
    expect(row.result).toBeNull();
    const audit = await auditOf(s, row.tenantId, row.id);
    // Audited on the call's own user, never on the user the job claimed.
    expect(audit.map((a) => [a.user_id, a.action, a.decision, a.reason])).toContainEqual([owner, 'tool_call.failed', 'deny', 'job_mismatch']);
    expect(audit.some((a) => a.action === 'tool_call.succeeded')).toBe(false);
    // alice's token never left the worker, and her credential row is as it was.
    expect(sent.join('\n')).not.toContain(upstream.alice);
  };

  it("bob's call paired with alice's user id and sealed token: refused, audited on bob, never run with alice's token", async () => {
    const before = await credentialOf('alice');
    const callId = await queuedCall('bob', 'whoami');
    await replaceJob(callId, { v: 1, callId, tenantId: s.tenant.id, userId: ids.alice, tool: 'whoami', credential: await jobCredential('alice') });
    await startObservedWorker();
    const row = await finalRow(s.tenant.id, callId);
    await expectRefused(row, ids.bob!);
    // Before the fix the worker ran whoami as alice and stored alice's identity in bob's call.
    expect(JSON.stringify(row)).not.toContain('alice@example.test');
    const view = await (
      await fetch(`${s.config.PUBLIC_URL}/t/${s.tenant.slug}/v1/tool-calls/${callId}`, { headers: { authorization: `Bearer ${await s.token('bob')}` } })
    ).text();
    expect(view).not.toContain('alice');
    const after = await credentialOf('alice');
    expect([after.status, after.version, after.accessTokenSealed]).toEqual([before.status, before.version, before.accessTokenSealed]);
  });

  it("bob's own user id but alice's credential (a credential id that is not the row user's): refused", async () => {
    const callId = await queuedCall('bob', 'whoami');
    await replaceJob(callId, { v: 1, callId, tenantId: s.tenant.id, userId: ids.bob, tool: 'whoami', credential: await jobCredential('alice') });
    await startObservedWorker();
    await expectRefused(await finalRow(s.tenant.id, callId), ids.bob!);
  });

  it("bob's credential id with alice's sealed token: the seal is opened with the row's ids and does not open", async () => {
    const callId = await queuedCall('bob', 'whoami');
    const forged = { ...(await jobCredential('bob')), sealedAccessToken: (await credentialOf('alice')).accessTokenSealed };
    await replaceJob(callId, { v: 1, callId, tenantId: s.tenant.id, userId: ids.bob, tool: 'whoami', credential: forged });
    await startObservedWorker();
    const row = await finalRow(s.tenant.id, callId);
    expect(row.status).toBe('failed');
    expect(row.result).toBeNull();
    expect(sent.join('\n')).not.toContain(upstream.alice);
  });

  it('another tool than the row’s: refused (the job’s tool is not trusted)', async () => {
    const callId = await queuedCall('bob', 'echo', { message: 'hi' });
    await replaceJob(callId, { v: 1, callId, tenantId: s.tenant.id, userId: ids.bob, tool: 'whoami', credential: await jobCredential('alice') });
    await startObservedWorker();
    await expectRefused(await finalRow(s.tenant.id, callId), ids.bob!);
    // And without any credential: the tool alone differs.
    const second = await queuedCall('bob', 'echo', { message: 'hi' });
    await replaceJob(second, { v: 1, callId: second, tenantId: s.tenant.id, userId: ids.bob, tool: 'web_search' });
    await startObservedWorker();
    await expectRefused(await finalRow(s.tenant.id, second), ids.bob!);
  });

  it("a call of another tenant paired with this tenant's id and alice's token: refused and audited in the call's own tenant", async () => {
    const ns = namespace('jobbind-other');
    const other = await tenantsRepository(s.db.db).create({
      slug: ns.slug,
      displayName: 'other',
      idpIssuer: s.idp.issuer,
      enabledTools: ['whoami', 'echo'],
      authMode: 'external',
    });
    const scope2 = forTenant(s.db.db, other.id);
    const mallory = await scope2.users.upsert({ issuer: s.idp.issuer, subject: 'mallory' });
    const callId = `call_${'M'.repeat(12)}${Math.random().toString(36).slice(2, 12).padEnd(10, 'x')}`;
    await scope2.toolCalls.insert({ id: callId, userId: mallory.id, tool: 'whoami', arguments: {} });
    await s.stopWorker();
    await queue.add(
      'whoami',
      { v: 1, callId, tenantId: s.tenant.id, userId: ids.alice, tool: 'whoami', credential: await jobCredential('alice') },
      { jobId: callId },
    );
    await startObservedWorker();
    const row = await finalRow(other.id, callId);
    await expectRefused(row, mallory.id);
    // Nothing was written in alice's tenant for that call.
    expect(await auditOf(s, s.tenant.id, callId)).toHaveLength(0);
  });

  it("a stray copy of a victim's job under another job id is refused and audited; the victim's call still runs normally", async () => {
    const callId = await queuedCall('alice', 'whoami');
    const genuine = (await queue.getJob(callId))!.data as Record<string, unknown>;
    await queue.add('whoami', genuine, { jobId: `forged-${callId}` });
    await startObservedWorker();
    const row = await finalRow(s.tenant.id, callId);
    expect(row.status).toBe('succeeded');
    expect(row.result).toMatchObject({ subject: 'alice' });
    await waitFor('the stray job refused', async () => {
      const audit = await auditOf(s, s.tenant.id, callId);
      return audit.some((a) => a.action === 'tool_call.job_refused' && a.reason === 'job_mismatch' && a.decision === 'deny') ? true : undefined;
    });
    expect(await queue.getJobState(`forged-${callId}`)).toBe('failed');
  });

  it('payloads of the wrong shape (extra field, wrong type, other version) are refused at once and audited, and the worker goes on', async () => {
    const variants: Array<(callId: string) => Record<string, unknown>> = [
      (callId) => ({ v: 1, callId, tenantId: s.tenant.id, userId: ids.bob, tool: 'echo', surprise: 'extra field' }),
      (callId) => ({ v: 1, callId, tenantId: s.tenant.id, userId: 42, tool: 'echo' }),
      (callId) => ({ v: 2, callId, tenantId: s.tenant.id, userId: ids.bob, tool: 'echo' }),
      (callId) => ({
        v: 1,
        callId,
        tenantId: s.tenant.id,
        userId: ids.bob,
        tool: 'echo',
        credential: { ...{ id: ids.bob, provider: 'idp' }, accessToken: upstream.alice },
      }),
    ];
    const callIds: string[] = [];
    for (const make of variants) {
      const callId = await queuedCall('bob', 'echo', { message: 'x' });
      await replaceJob(callId, make(callId));
      callIds.push(callId);
    }
    const garbage = 'not-even-a-call';
    await queue.add('echo', { hello: 'world' }, { jobId: garbage, attempts: 3 });
    await startObservedWorker();
    for (const callId of callIds) {
      const row = await finalRow(s.tenant.id, callId);
      expect(row.status).toBe('failed');
      expect(row.error).toMatchObject({ code: 'job_payload_invalid', retryable: false });
      const audit = await auditOf(s, s.tenant.id, callId);
      expect(audit.map((a) => [a.user_id, a.decision, a.reason])).toContainEqual([ids.bob, 'deny', 'job_payload_invalid']);
      const job = (await queue.getJob(callId))!;
      expect(await job.getState()).toBe('failed');
      expect(job.attemptsMade).toBe(1); // not retried
    }
    await waitFor('the garbage job failed', async () => ((await queue.getJobState(garbage)) === 'failed' ? true : undefined));
    // The worker is still serving.
    const ok = CallToolResultSchema.parse(await (await s.client(await s.token('bob'))).callTool({ name: 'echo', arguments: { message: 'still here' } }));
    const meta = ok._meta?.[CALL_META] as CallMeta;
    expect((await finalRow(s.tenant.id, meta.id)).status).toBe('succeeded');
  });
});

describe('the worker re-checks the policy at dequeue', () => {
  let s: Stack;
  let aliceId: string;

  beforeAll(async () => {
    s = await startStack({
      label: 'deqpolicy',
      worker: 'none',
      env: { CALL_WAIT_MS: '200' },
      enabledTools: ['whoami', 'web_search', 'echo', 'github_profile'],
    });
    aliceId = (await s.connectUser('alice')).user.id;
  });
  afterAll(() => s?.close());

  /** Submit while no worker runs, change the stored state, then start a worker and wait for the row. */
  const submitChangeRun = async (name: string, args: Record<string, unknown>, change: () => Promise<unknown>, restore: () => Promise<unknown>) => {
    await s.stopWorker();
    const token = await s.token('alice', { scope: 'tools:whoami tools:web_search tools:echo tools:github_profile' });
    const res = CallToolResultSchema.parse(await (await s.client(token)).callTool({ name, arguments: args }));
    const id = (res._meta?.[CALL_META] as CallMeta).id;
    await change();
    try {
      await s.startWorker();
      return await waitFor(`call ${id} final`, async () => {
        const row = await s.scope.toolCalls.byId(id);
        return row && row.status !== 'queued' && row.status !== 'running' ? row : undefined;
      });
    } finally {
      await restore();
    }
  };

  const expectDenied = async (row: ToolCall, code: string) => {
    expect(row.status).toBe('failed');
    expect(row.error).toMatchObject({ code, retryable: false });
    expect(row.attempt).toBe(1); // a denial is not retried
    const audit = await s.db.sql`select action, decision, reason from audit_events where tenant_id = ${s.tenant.id} and call_id = ${row.id} order by id`;
    expect(audit.map((a) => [a.action, a.decision, a.reason])).toEqual([
      ['tool_call.accepted', 'allow', null],
      ['tool_call.failed', 'deny', code],
    ]);
  };

  it('a credential revoked between enqueue and dequeue: the call fails with credential_unavailable, audited', async () => {
    const row = await submitChangeRun(
      'whoami',
      {},
      () => s.db.sql`update credentials set status = 'revoked' where tenant_id = ${s.tenant.id} and user_id = ${aliceId}`,
      () => s.db.sql`update credentials set status = 'active' where tenant_id = ${s.tenant.id} and user_id = ${aliceId}`,
    );
    await expectDenied(row, 'credential_unavailable');
    expect(row.error!.message).toMatch(/reconnecting \(revoked\)/);
  });

  it('a credential whose granted scopes no longer cover the tool: upstream_scope_missing', async () => {
    // github_profile (test-only) needs a connected GitHub account with read:user and repo.
    await s.vault.store(s.scope, aliceId, 'github', { accessToken: 'gho_worker_guards', refreshToken: null, expiresAt: null, scopes: ['read:user', 'repo'] });
    {
      const row = await submitChangeRun(
        'github_profile',
        {},
        () => s.db.sql`update credentials set scopes = '{read:user}' where tenant_id = ${s.tenant.id} and user_id = ${aliceId} and provider = 'github'`,
        async () => undefined,
      );
      await expectDenied(row, 'upstream_scope_missing');
      // An external tenant has no connect route: the refusal carries no link.
      expect(row.error!.details).toBeUndefined();
    }
  });

  it('a tool disabled for the tenant between enqueue and dequeue: the call fails with tool_disabled, audited', async () => {
    const row = await submitChangeRun(
      'echo',
      { message: 'hi' },
      () => s.db.sql`update tenants set enabled_tools = '{whoami,web_search}' where id = ${s.tenant.id}`,
      () => s.db.sql`update tenants set enabled_tools = '{whoami,web_search,echo,github_profile}' where id = ${s.tenant.id}`,
    );
    await expectDenied(row, 'tool_disabled');
  });

  it('control: with nothing changed the same calls succeed', async () => {
    const row = await submitChangeRun(
      'whoami',
      {},
      async () => undefined,
      async () => undefined,
    );
    expect(row.status).toBe('succeeded');
  });
});
