import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';

/** API side: per-user and per-tenant call rates with rate-limiter-flexible on the real Redis. */

const RATE = 5;

describe('API call rates', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'rates', extraSubjects: ['dave'] });
    await s.db
      .sql`update tenants set limits = limits || ${JSON.stringify({ perUserRatePerMinute: RATE, tenantRatePerMinute: 3 * RATE + 2 })}::jsonb where id = ${s.tenant.id}`;
  });
  afterAll(() => s?.close());

  const burst = async (sub: string, n: number) => {
    const client = await s.client(await s.token(sub));
    const res = await Promise.all(Array.from({ length: n }, (_, i) => client.callTool({ name: 'echo', arguments: { message: `${sub}-${i}` } })));
    return res.map((r) => CallToolResultSchema.parse(r));
  };
  const errorMeta = (r: ReturnType<typeof CallToolResultSchema.parse>) => r._meta?.['io.mcprt/error'] as { code: string; retryAfterMs?: number } | undefined;
  /** Refusals counted by the API's `mcprt_rate_limit_refusals_total`, for one scope. */
  const refusals = async (scope: 'user' | 'tenant') =>
    (await s.api!.resources.metrics.rateLimitRefusals.get()).values.filter((v) => v.labels.scope === scope).reduce((n, v) => n + v.value, 0);

  it('a burst over the per-user rate: exactly the rate admitted, the rest refused with the retry delay and audited; another user unaffected', async () => {
    const alice = await burst('alice', RATE + 3);
    const ok = alice.filter((r) => !r.isError);
    const refused = alice.filter((r) => errorMeta(r)?.code === 'rate_limited');
    expect(ok).toHaveLength(RATE);
    expect(refused).toHaveLength(3);
    for (const r of refused) {
      expect(errorMeta(r)!.retryAfterMs).toBeGreaterThan(0);
      expect(errorMeta(r)!.retryAfterMs).toBeLessThanOrEqual(60_000);
      expect(JSON.stringify(r.content)).toMatch(/at most 5 calls per minute for you; retry in \d+ s/);
    }
    const audit = await s.db
      .sql`select count(*)::int as n from audit_events where tenant_id = ${s.tenant.id} and action = 'tool_call.refused' and reason = 'rate_limited'`;
    expect(audit[0]!.n).toBe(3);
    expect(await refusals('user')).toBe(3);
    const bob = await burst('bob', RATE);
    expect(bob.filter((r) => r.isError)).toEqual([]);
  });

  it('the tenant-wide rate holds across users', async () => {
    // alice 5 + bob 5 used; the tenant allows 17 a minute: carol gets 5, dave 2 of 5.
    expect((await burst('carol', RATE)).filter((r) => r.isError)).toEqual([]);
    const dave = await burst('dave', RATE);
    expect(dave.filter((r) => !r.isError)).toHaveLength(2);
    const refused = dave.filter((r) => errorMeta(r)?.code === 'rate_limited');
    expect(refused).toHaveLength(3);
    expect(JSON.stringify(refused[0]!.content)).toMatch(/for this tenant/);
    expect(await refusals('tenant')).toBe(3);
  });
});

describe('API call rates, large limits (points taken from Redis in batches)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'rates-big', worker: 'none', env: { CALL_WAIT_MS: '10' } });
    const alice = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: 'alice' });
    // alice's own override: 300 a minute (batches of 3), the tenant's default stays for others.
    const limits = { pendingCap: 1000, userOverrides: { [alice.id]: { perUserRatePerMinute: 300 } } };
    await s.db.sql`update tenants set limits = limits || ${JSON.stringify(limits)}::jsonb where id = ${s.tenant.id}`;
  });
  afterAll(() => s?.close());

  it('a per-user override of 300/min: exactly 300 of 310 admitted by one API, never more', async () => {
    const client = await s.client(await s.token('alice'));
    const res = [];
    for (let i = 0; i < 31; i++)
      res.push(
        ...(await Promise.all(Array.from({ length: 10 }, (_, j) => client.callTool({ name: 'echo', arguments: { message: `m${i}-${j}` } })))).map((r) =>
          CallToolResultSchema.parse(r),
        ),
      );
    const limited = res.filter((r) => (r._meta?.['io.mcprt/error'] as { code?: string } | undefined)?.code === 'rate_limited');
    expect(res.length - limited.length).toBe(300);
    expect(limited).toHaveLength(10);
  }, 60_000);
});
