import { createDb } from '@mcprt/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './harness/cli-process.js';
import { startStack, type Stack } from './harness/stack.js';
import { waitFor } from './harness/wait-for.js';

/**
 * End to end: the worker's own checkpointer (AUDIT_CHECKPOINT_INTERVAL_MS) seals the
 * audit rows real MCP tool calls wrote, and `pnpm cli audit verify` checks them — then names the row
 * the table owner rewrote.
 */
describe('audit: the worker seals real calls; the CLI verifies', () => {
  let s: Stack;

  beforeAll(async () => {
    s = await startStack({ label: 'audit-e2e', env: { AUDIT_CHECKPOINT_INTERVAL_MS: '200', AUDIT_CHECKPOINT_MAX_ROWS: '3' } });
    await s.connectUser('alice');
  });
  afterAll(() => s?.close());

  it('calls → audit rows → signed checkpoints → `audit verify` ok; an owner edit → exit 1 naming the row', async () => {
    const client = await s.client(await s.token('alice'));
    for (let i = 0; i < 4; i++) await client.callTool({ name: 'echo', arguments: { message: `m${i}` } });
    const [{ max }] = (await s.db.sql`select max(id)::int as max from audit_events where tenant_id = ${s.tenant.id}`) as unknown as [{ max: number }];
    expect(max).toBeGreaterThan(0);
    await waitFor(
      'the worker to seal every row',
      async () => {
        const [cp] = await s.db.sql`select max(last_id)::int as last from audit_checkpoints where tenant_id = ${s.tenant.id}`;
        return (cp?.last as number | null) !== null && (cp!.last as number) >= max ? true : undefined;
      },
      15_000,
      100,
    );
    const ok = await runCli(['audit', 'verify', '--slug', s.tenant.slug], s.env);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^ok: tenant .*: \d+ checkpoint\(s\), (\d+) row\(s\) verified/);
    expect(Number(/, (\d+) row\(s\) verified/.exec(ok.stdout)![1])).toBeGreaterThanOrEqual(8); // 4 × (accepted + succeeded)

    // The owner rewrites one succeeded call as failed, triggers off.
    const [row] = await s.db.sql`select id::int from audit_events where tenant_id = ${s.tenant.id} and action = 'tool_call.succeeded' order by id limit 1`;
    const owner = createDb(s.database.ownerUrl, { max: 1 });
    try {
      await owner.sql.begin(async (tx) => {
        await tx`set local session_replication_role = replica`;
        await tx`update audit_events set action = 'tool_call.failed', decision = 'deny' where id = ${row!.id as number}`;
      });
    } finally {
      await owner.close();
    }
    const bad = await runCli(['audit', 'verify', '--slug', s.tenant.slug], s.env);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toMatch(new RegExp(`^FAILED: tenant ${s.tenant.slug}: row ${row!.id as number} differs from what checkpoint \\d+ sealed \\(altered\\)`));

    // `tenant api-key create` prints the key alone on stdout (capturable), the notice on stderr.
    const created = await runCli(['tenant', 'api-key', 'create', '--slug', s.tenant.slug, '--scopes', 'audit:read'], s.env);
    expect(created.code).toBe(0);
    expect(created.stdout.trim()).toMatch(/^mcprt_ak_ak[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/);
    expect(created.stderr).toMatch(/shown only now/);
    const badScope = await runCli(['tenant', 'api-key', 'create', '--slug', s.tenant.slug, '--scopes', 'audit:write'], s.env);
    expect(badScope.code).toBe(2);
    expect(badScope.stderr).toMatch(/--scopes: unknown scope "audit:write"/);
  });
});
