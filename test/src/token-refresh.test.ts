import { sealTenantClientSecret } from '@mcprt/providers';
import { CALL_META, type CallMeta } from '@mcprt/api';
import { parseKeyring } from '@mcprt/keyring';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { freePort } from './harness/free-port.js';
import { valuesOf } from './harness/promql.js';
import { startStack, type Stack } from './harness/stack.js';
import { sleep } from './harness/wait-for.js';

/**
 * The worker refreshes an expired upstream token with openid-client against a real
 * OpenID provider (oidc-provider issuing single-use, rotating refresh tokens), under a cluster-wide
 * single flight, across two worker processes.
 */

describe('token refresh in the worker (2 worker processes, rotating refresh tokens)', () => {
  let s: Stack;
  const workers: AppProcess[] = [];
  const metricsPorts: number[] = [];
  /** A counter summed over both workers' /metrics, for the samples whose labels include `labels`. */
  const counted = async (name: string, labels: Record<string, string>) => {
    let n = 0;
    for (const port of metricsPorts) for (const v of valuesOf(await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(), name, labels)) n += v;
    return n;
  };

  beforeAll(async () => {
    s = await startStack({
      label: 'refresh',
      // The IdP's own tokens: the reconnect answer is checked in the external mode's shape.
      auth: 'external',
      worker: 'none',
      rotateRefreshTokens: true,
      env: { WORKER_CONCURRENCY: '32' },
    });
    // The tenant's client at its IdP (what the sign-in issue will configure): id + sealed secret.
    const keyring = parseKeyring(s.config.SEAL_KEYS);
    await s.db.sql`update tenants set idp_client_id = ${s.idp.client.clientId},
      idp_client_secret_sealed = ${sealTenantClientSecret(keyring, s.tenant.id, s.idp.client.clientSecret)},
      limits = limits || '{"pendingCap": 100}'::jsonb where id = ${s.tenant.id}`;
    // Each worker serves /metrics: the refreshes and failure fates are counted there.
    for (let i = 0; i < 2; i++) {
      const port = await freePort();
      metricsPorts.push(port);
      workers.push(spawnApp('worker', { ...s.env, WORKER_METRICS_PORT: String(port) }));
    }
    await Promise.all(workers.map((w) => w.ready));
  }, 60_000);
  afterAll(async () => {
    if (process.env.DEBUG_WORKERS)
      for (const w of workers)
        console.log(
          w
            .output()
            .split('\n')
            .filter((l) => l.includes('"level":50') || l.includes('"level":40'))
            .join('\n')
            .slice(-4000),
        );
    for (const w of workers) w.child.kill('SIGKILL');
    await s?.close();
  });

  /** A user whose stored access token (1 s lifetime) has really expired at the IdP. */
  const expiredUser = async (sub: string) => {
    const user = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: sub });
    const up = await s.idp.mintUpstreamToken({ sub, scope: 'openid email profile', ttlSeconds: 1 });
    const stored = await s.vault.store(s.scope, user.id, 'idp', {
      accessToken: up.accessToken,
      refreshToken: up.refreshToken!,
      expiresAt: up.expiresAt,
      scopes: ['openid', 'email', 'profile'],
    });
    await sleep(1_100);
    return { user, up, stored };
  };
  const tokenRequests = () => s.idpRequests.filter((r) => r === 'POST /token').length;

  it('refresh storm: 50 concurrent calls with an expired token → one refresh at the provider, all succeed, new tokens stored once', async () => {
    const { user, up, stored } = await expiredUser('alice');
    const before = tokenRequests();
    const refreshedBefore = await counted('mcprt_credential_refreshes_total', { provider: 'idp', outcome: 'refreshed' });
    const client = await s.client(await s.token('alice'));
    const results = await Promise.all(Array.from({ length: 50 }, () => client.callTool({ name: 'whoami', arguments: {} }, { timeout: 60_000 })));
    for (const raw of results) {
      const res = CallToolResultSchema.parse(raw);
      expect(res.isError ?? false, JSON.stringify(res.content)).toBe(false);
      expect(res.structuredContent).toMatchObject({ subject: 'alice' });
    }
    expect(tokenRequests() - before).toBe(1);
    // Counted once, by the worker that redeemed it (the others waited for its result).
    expect((await counted('mcprt_credential_refreshes_total', { provider: 'idp', outcome: 'refreshed' })) - refreshedBefore).toBe(1);
    const after = (await s.scope.credentials.get(user.id, 'idp'))!;
    // Stored once: one version step from the sign-in's row; new sealed access + rotated refresh token.
    expect(after.version).toBe(stored.version + 1);
    expect(after.status).toBe('active');
    expect(after.expiresAt!.getTime()).toBeGreaterThan(Date.now() + 60_000);
    expect(after.accessTokenSealed).not.toBe(stored.accessTokenSealed);
    const rotated = s.vault.openRefreshToken(after);
    expect(rotated).toBeTruthy();
    expect(rotated).not.toBe(up.refreshToken);
    // The refresh token is only ever in Postgres, sealed: never in the job, the call rows or Redis.
    const rows = await s.db.sql`select result::text as r, arguments::text as a from tool_calls where tenant_id = ${s.tenant.id} and user_id = ${user.id}`;
    expect(rows).toHaveLength(50);
    expect(JSON.stringify(rows)).not.toContain(rotated!);
  }, 90_000);

  it('a 401 from the provider on a token thought valid → refreshed once and the request retried once', async () => {
    const user = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: 'carol' });
    const up = await s.idp.mintUpstreamToken({ sub: 'carol', scope: 'openid email profile' });
    // Not expired by its stored expiry, but the provider does not accept it (revoked early, say).
    const stored = await s.vault.store(s.scope, user.id, 'idp', {
      accessToken: 'revoked-access-token',
      refreshToken: up.refreshToken!,
      expiresAt: new Date(Date.now() + 3_600_000),
      scopes: ['openid', 'email', 'profile'],
    });
    const before = tokenRequests();
    const client = await s.client(await s.token('carol'));
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'whoami', arguments: {} }, { timeout: 30_000 }));
    expect(res.isError ?? false, JSON.stringify(res.content)).toBe(false);
    expect(res.structuredContent).toMatchObject({ subject: 'carol' });
    expect(tokenRequests() - before).toBe(1);
    expect((await s.scope.credentials.get(user.id, 'idp'))!.version).toBe(stored.version + 1);
    const meta = res._meta?.[CALL_META] as CallMeta;
    const [row] = await s.db.sql`select attempt from tool_calls where id = ${meta.id}`;
    expect(row!.attempt).toBe(1); // retried inside the attempt, not by the queue
  }, 60_000);

  it('invalid_grant → reauth_required, a reconnect link, one audit row, no retries, and the next call fails fast', async () => {
    const { user, up } = await expiredUser('bob');
    // The single-use refresh token is spent elsewhere first: the worker's use of it is a reuse.
    const basic = Buffer.from(`${s.idp.client.clientId}:${s.idp.client.clientSecret}`).toString('base64');
    const spent = await fetch(s.idp.tokenEndpoint, {
      method: 'POST',
      headers: { authorization: `Basic ${basic}`, 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: up.refreshToken! }),
    });
    expect(spent.status).toBe(200);
    const before = tokenRequests();
    const reauthBefore = await counted('mcprt_credential_refreshes_total', { provider: 'idp', outcome: 'reauth_required' });
    const fateBefore = await counted('mcprt_tool_call_failures_total', { tool: 'whoami', fate: 'reauth', action: 'fail' });
    const client = await s.client(await s.token('bob'));
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'whoami', arguments: {} }, { timeout: 30_000 }));
    expect(res.isError).toBe(true);
    const link = `${s.config.PUBLIC_URL}/t/${s.tenant.slug}/connect/idp`;
    expect(JSON.stringify(res.content)).toContain(link);
    const meta = res._meta?.[CALL_META] as CallMeta;
    expect(meta.status).toBe('failed');
    expect(tokenRequests() - before).toBe(1);
    const cred = (await s.scope.credentials.get(user.id, 'idp'))!;
    expect(cred.status).toBe('reauth_required');
    expect((await counted('mcprt_credential_refreshes_total', { provider: 'idp', outcome: 'reauth_required' })) - reauthBefore).toBe(1);
    expect((await counted('mcprt_tool_call_failures_total', { tool: 'whoami', fate: 'reauth', action: 'fail' })) - fateBefore).toBe(1);
    const [row] = await s.db.sql`select attempt, error from tool_calls where id = ${meta.id}`;
    expect(row!.attempt).toBe(1); // one run: not retried
    expect(row!.error).toMatchObject({ code: 'reauth_required', retryable: false, details: { reconnectUrl: link, provider: 'idp' } });
    const audit = await s.db.sql`select action, decision, reason from audit_events where call_id = ${meta.id} order by id`;
    expect(audit.map((a) => [a.action, a.decision, a.reason])).toEqual([
      ['tool_call.accepted', 'allow', null],
      ['tool_call.failed', 'deny', 'reauth_required'],
    ]);
    // Give a retry (if any) the chance to happen: still one token request, one run.
    await sleep(1_000);
    expect(tokenRequests() - before).toBe(1);

    // The next call is refused at admission: nothing queued, no request to the provider.
    const next = CallToolResultSchema.parse(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(next.isError).toBe(true);
    expect(JSON.stringify(next.content)).toMatch(/sign in again|reconnect/);
    const calls = await s.db.sql`select count(*)::int as n from tool_calls where tenant_id = ${s.tenant.id} and user_id = ${user.id}`;
    expect(calls[0]!.n).toBe(1);
    expect(tokenRequests() - before).toBe(1);
  }, 60_000);
});
