import { createHash, randomBytes } from 'node:crypto';
import { CALL_META, IDEMPOTENCY_META, type CallMeta } from '@mcprt/api';
import { submitCall } from '@mcprt/calls';
import { createLogger } from '@mcprt/observability';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';
import { sleep } from './harness/wait-for.js';

/**
 * A sensitive argument reaches the tool but is stored, shown and queued only
 * redacted or sealed; an idempotency key names one request (tool + arguments), a reuse with another
 * one is an error.
 */

const sha256 = (s: string) => createHash('sha256').update(s).digest('hex');
const metaOf = (r: CallToolResult) => r._meta?.[CALL_META] as CallMeta;
const errorCodeOf = (r: CallToolResult) => (r._meta?.['io.mcprt/error'] as { code?: string } | undefined)?.code;

describe('sensitive arguments reach the tool, sealed, and are shown only redacted', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'sensitive' });
    await s.connectUser('alice');
  });
  afterAll(() => s?.close());

  it('echo receives the real secret; the row, the REST view, the audit and the Redis job never hold it in clear', async () => {
    const secret = `s3cret-${randomBytes(12).toString('hex')}`;
    const token = await s.token('alice');
    const res = CallToolResultSchema.parse(await (await s.client(token)).callTool({ name: 'echo', arguments: { message: 'hi', secret } }));
    expect(res.isError).toBeFalsy();
    // The tool got the real value (not "[redacted]"), and answered with its hash only.
    expect(res.structuredContent).toMatchObject({ message: 'hi', secretSha256: sha256(secret) });
    expect(sha256(secret)).not.toBe(sha256('[redacted]'));
    const id = metaOf(res).id;

    const [row] = await s.db.sql`select * from tool_calls where tenant_id = ${s.tenant.id} and id = ${id}`;
    expect(row!.arguments).toEqual({ message: 'hi', delayMs: 0, secret: '[redacted]' });
    expect(row!.sealed_args).toMatch(/^v1\./);
    expect(JSON.stringify(row)).not.toContain(secret);

    const view = await fetch(metaOf(res).pollUrl, { headers: { authorization: `Bearer ${token}` } });
    const body = await view.text();
    expect(view.status).toBe(200);
    expect(JSON.parse(body)).toMatchObject({ arguments: { message: 'hi', secret: '[redacted]' } });
    expect(body).not.toContain(secret);

    const audit = await s.db.sql`select * from audit_events where tenant_id = ${s.tenant.id} and call_id = ${id}`;
    expect(audit.length).toBeGreaterThanOrEqual(2);
    expect(JSON.stringify(audit)).not.toContain(secret);
    expect(JSON.stringify(res)).not.toContain(secret);

    const redis = (await s.redisValues()).join('\n');
    expect(redis).toContain(id); // the job is there …
    expect(redis).not.toContain(secret); // … without the secret
  });

  it('a sealed bundle copied onto another call does not open there (bound to tenant, user and call id)', async () => {
    const secret = `moved-${randomBytes(8).toString('hex')}`;
    const client = await s.client(await s.token('alice'));
    const first = CallToolResultSchema.parse(await client.callTool({ name: 'echo', arguments: { message: 'a', secret } }));
    const [src] = await s.db.sql`select sealed_args from tool_calls where tenant_id = ${s.tenant.id} and id = ${metaOf(first).id}`;
    // A second call, recorded and queued while no worker runs; then its bundle is swapped for the first's.
    await s.stopWorker();
    const user = (await s.scope.users.bySubject(s.idp.issuer, 'alice'))!;
    const r = s.api!.resources;
    const second = await submitCall(r, {
      tenant: s.tenant,
      scope: s.scope,
      user,
      clientId: undefined,
      tool: r.registry.get('echo')!,
      tokenScopes: ['tools:echo'],
      args: { message: 'b', secret: 'other' },
      requestId: 'req-moved',
      logs: { log: createLogger({ name: 'test', level: 'silent' }) },
    });
    if (second.kind !== 'accepted') throw new Error('not accepted');
    const queued = { id: second.call.id };
    await s.db.sql`update tool_calls set sealed_args = ${src!.sealed_args} where tenant_id = ${s.tenant.id} and id = ${queued.id}`;
    await s.startWorker();
    let row;
    for (let i = 0; i < 100; i++) {
      [row] = await s.db.sql`select status, result, error from tool_calls where tenant_id = ${s.tenant.id} and id = ${queued.id}`;
      if (row!.status === 'failed' || row!.status === 'succeeded') break;
      await sleep(50);
    }
    expect(row!.status).toBe('failed');
    expect(JSON.stringify(row)).not.toContain(sha256(secret));
  });
});

describe('an idempotency key means one request', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'idem' });
    await s.connectUser('alice');
  });
  afterAll(() => s?.close());

  const call = async (name: string, args: Record<string, unknown>, key: string) =>
    CallToolResultSchema.parse(await (await s.client(await s.token('alice'))).callTool({ name, arguments: args, _meta: { [IDEMPOTENCY_META]: key } }));

  const expectReused = (r: CallToolResult) => {
    expect(r.isError).toBe(true);
    expect(errorCodeOf(r)).toBe('idempotency_key_reused');
    expect((r.content[0] as { text: string }).text).toMatch(/idempotency key was already used for a different request/);
    expect(r._meta?.[CALL_META]).toBeUndefined(); // not the earlier call's result
  };

  it('same key and same arguments (in any key order) → the same call; new arguments or another tool → idempotency_key_reused', async () => {
    const a = await call('echo', { message: 'once', delayMs: 0 }, 'k-args');
    const b = await call('echo', { delayMs: 0, message: 'once' }, 'k-args');
    expect(metaOf(a).id).toBe(metaOf(b).id);
    expect(b.structuredContent).toMatchObject({ message: 'once' });

    expectReused(await call('echo', { message: 'twice' }, 'k-args'));
    expectReused(await call('whoami', {}, 'k-args'));
    const refused = await s.db.sql`select reason, decision from audit_events where tenant_id = ${s.tenant.id} and action = 'tool_call.refused'`;
    expect(refused.filter((r) => r.reason === 'idempotency_key_reused' && r.decision === 'deny')).toHaveLength(2);
    // Only the first call was recorded under that key.
    const rows = await s.db.sql`select id from tool_calls where tenant_id = ${s.tenant.id} and idempotency_key = 'k-args'`;
    expect(rows.map((r) => r.id)).toEqual([metaOf(a).id]);
  });

  it('sensitive arguments count (by keyed hash, never in clear): the same secret replays, another secret is a reuse', async () => {
    const secret = `idem-${randomBytes(8).toString('hex')}`;
    const a = await call('echo', { message: 'm', secret }, 'k-secret');
    const b = await call('echo', { message: 'm', secret }, 'k-secret');
    expect(metaOf(a).id).toBe(metaOf(b).id);
    expectReused(await call('echo', { message: 'm', secret: `${secret}x` }, 'k-secret'));
    const [row] = await s.db.sql`select args_hash, arguments from tool_calls where tenant_id = ${s.tenant.id} and id = ${metaOf(a).id}`;
    expect(row!.args_hash).toMatch(/^h1\.[^.]+\.[A-Za-z0-9_-]{43}$/);
    expect(row!.args_hash).not.toContain(sha256(secret));
    expect(JSON.stringify(row)).not.toContain(secret);
  });

  it('the race: concurrent requests with one key — same arguments share one call, different ones get the error', async () => {
    const same = await Promise.all([0, 1, 2].map(() => call('echo', { message: 'race' }, 'k-race-same')));
    expect(new Set(same.map((r) => metaOf(r).id)).size).toBe(1);
    const mixed = await Promise.all([call('echo', { message: 'one' }, 'k-race-mixed'), call('echo', { message: 'two' }, 'k-race-mixed')]);
    expect(mixed.filter((r) => !r.isError)).toHaveLength(1);
    expectReused(mixed.find((r) => r.isError)!);
  });

  it('the race, forced down the unique-violation branch: the other request recorded first, with other arguments → the error', async () => {
    const r = s.api!.resources;
    const tenant = s.tenant;
    const user = (await s.scope.users.bySubject(s.idp.issuer, 'alice'))!;
    const tool = r.registry.get('echo')!;
    const base = {
      tenant,
      user,
      // The same app each time: a replay is shown only to the app that made the call (the policy's call rule).
      clientId: 'client-race',
      tool,
      tokenScopes: ['tools:echo'],
      requestId: 'req-race',
      logs: { log: createLogger({ name: 'test', level: 'silent' }) },
    };
    const first = await submitCall(r, { ...base, scope: s.scope, args: { message: 'first' }, idempotencyKey: 'k-23505' });
    expect(first.kind).toBe('accepted');
    // The second request's look-up ran before the first committed (the race window): it saw nothing,
    // so its insert hits the unique index (23505) and it must compare with the row that won.
    let looked = 0;
    const blind = {
      ...s.scope,
      toolCalls: {
        ...s.scope.toolCalls,
        byIdempotencyKey: (u: string, k: string) => (looked++ === 0 ? Promise.resolve(undefined) : s.scope.toolCalls.byIdempotencyKey(u, k)),
      },
    };
    const other = await submitCall(r, { ...base, scope: blind, args: { message: 'second' }, idempotencyKey: 'k-23505' });
    expect(looked).toBe(2); // the pre-check and the 23505 branch's re-read
    expect(other).toMatchObject({ kind: 'refused', code: 'idempotency_key_reused' });
    looked = 0;
    const again = await submitCall(r, { ...base, scope: blind, args: { message: 'first' }, idempotencyKey: 'k-23505' });
    expect(looked).toBe(2);
    expect(again.kind === 'accepted' && first.kind === 'accepted' && again.call.id === first.call.id).toBe(true);
  });
});
