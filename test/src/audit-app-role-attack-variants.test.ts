import {
  auditTrail,
  checkpointTick,
  publicKeyFromJwk,
  retentionOf,
  setRetention,
  verifyTenantTrail,
  type AuditPublicJwk,
  type CheckpointerDeps,
} from '@mcprt/audit';
import { parseKeyring } from '@mcprt/keyring';
import { tenantsRepository } from '@mcprt/db';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';

/**
 * Variants of the app-role attacks on the audit (audit-app-role-attacks.test.ts),, tried
 * another way: the same goals (change a retention unaudited, keep rows from being sealed or
 * pruned, stop the checkpointer) by other statements the app role is allowed to send. Every statement
 * here runs as the app role (`s.db.sql`).
 */

type Log = { o: object; m: string };

describe('audit: variants of the app-role attacks', () => {
  let s: Stack;
  let errors: Log[] = [];
  let n = 0;
  const quiet = () => ({ info: () => undefined, warn: () => undefined, error: (o: object, m: string) => errors.push({ o, m }) });
  const deps = (extra: Partial<CheckpointerDeps> = {}): CheckpointerDeps => ({
    sql: s.db.sql,
    keyring: parseKeyring(s.config.SEAL_KEYS),
    maxRows: 40,
    settleMs: 5_000,
    log: quiet(),
    ...extra,
  });
  const errorsAbout = (id: string) => errors.filter((e) => (e.o as { tenantId?: string }).tenantId === id);
  const newTenant = () =>
    tenantsRepository(s.db.db).create({ slug: `${s.tenant.slug}-v${++n}`, displayName: 't', idpIssuer: s.idp.issuer, enabledTools: ['echo'] });
  const append = (tenantId: string, count: number, at = 'now()') =>
    s.db.sql.unsafe(
      `insert into audit_events (tenant_id, tool, action, decision, reason, at)
       select $1, 'echo', 'tool_call.accepted', 'allow', 'r' || g, ${at} from generate_series(1, $2::int) g`,
      [tenantId, count],
    );
  const auditOf = async (tenantId: string) => s.db.sql`select action, reason from audit_events where tenant_id = ${tenantId} order by id`;
  const lastSeq = async (tenantId: string) => (await auditTrail(s.db.sql, tenantId).lastCheckpoint())?.seq ?? 0;
  const verify = async (t: { id: string; slug: string }) => {
    const b = (await (await fetch(`${s.config.PUBLIC_URL}/t/${t.slug}/v1/audit-keys`)).json()) as { keys: AuditPublicJwk[] };
    return verifyTenantTrail(s.db.sql, t.id, new Map(b.keys.map((k) => [k.kid, publicKeyFromJwk(k)])));
  };

  beforeAll(async () => {
    s = await startStack({ label: 'audit-retest', worker: 'none' });
  });
  afterAll(async () => {
    await s?.close();
  });

  it("a tenant's retention row moved onto another tenant (UPDATE tenant_id, alone or with the days) is refused: no retention changes without an audit row in its own tenant's trail", async () => {
    const a = await newTenant();
    const b = await newTenant();
    await setRetention(s.db.sql, a.id, { auditEventDays: 30, callResultDays: 1 });
    // b has no row: the defaults (400 days). Moving a's row onto b would give b 30 days, with no audit row in b's trail
    // (the days did not change) and none in a's for going back to the defaults.
    await expect(s.db.sql`update tenant_retention set tenant_id = ${b.id} where tenant_id = ${a.id}`).rejects.toMatchObject({ code: '23514' });
    await expect(s.db.sql`update tenant_retention set tenant_id = ${b.id}, audit_event_days = 31 where tenant_id = ${a.id}`).rejects.toMatchObject({
      code: '23514',
    });
    // The same through an upsert whose conflict branch rewrites the key.
    await expect(
      s.db.sql`insert into tenant_retention (tenant_id, call_result_days, audit_event_days) values (${a.id}, 1, 30)
        on conflict (tenant_id) do update set tenant_id = ${b.id}`,
    ).rejects.toMatchObject({ code: '23514' });
    expect(await retentionOf(s.db.sql, b.id)).toMatchObject({ auditEventDays: 400 });
    expect(await auditOf(b.id)).toEqual([]);
    expect(await retentionOf(s.db.sql, a.id)).toMatchObject({ auditEventDays: 30 });
    // The honest way to give b a retention: its own row, audited in b's trail.
    await setRetention(s.db.sql, b.id, { auditEventDays: 30 });
    expect((await auditOf(b.id)).map((r) => r.action)).toEqual(['tenant.retention_changed']);
  });

  it('audit rows dated infinity, past year 9999, before 1970 or in the future are refused (they could never be sealed, or never pruned)', async () => {
    const t = await newTenant();
    for (const at of [
      `'infinity'`,
      `'-infinity'`,
      `'10000-01-01T00:00:00Z'`,
      `'0044-03-15T00:00:00Z BC'`,
      `'1969-12-31T23:59:59Z'`,
      `now() + interval '1 day'`,
      `now() + interval '1 second'`,
    ]) {
      await expect(append(t.id, 1, `(${at})::timestamptz`), at).rejects.toMatchObject({ code: '23514' });
    }
    // Rows dated by the database, or in the past (an import, a test), are fine, and seal.
    await append(t.id, 3);
    await append(t.id, 2, `now() - interval '2 years'`);
    errors = [];
    await checkpointTick(deps());
    expect(errorsAbout(t.id)).toEqual([]);
    expect(await lastSeq(t.id)).toBe(1);
    expect((await verify(t)).ok).toBe(true);
  });

  it('audit rows with ids the sequence has not handed out (9e18) or ids <= 0 are refused: one such row kept its tenant from ever being sealed again, or hid from verify and the export', async () => {
    const t = await newTenant();
    await append(t.id, 2);
    for (const id of ['9000000000000000000', '0', '-5']) {
      await expect(
        s.db.sql`insert into audit_events (id, tenant_id, action, decision) values (${id}::bigint, ${t.id}, 'forged', 'info')`,
        id,
      ).rejects.toMatchObject({
        code: '23514',
      });
    }
    // Rows numbered by the sequence (the only way the apps insert) keep being sealed.
    await checkpointTick(deps());
    await append(t.id, 3);
    await checkpointTick(deps());
    expect(await lastSeq(t.id)).toBe(2);
    const report = await verify(t);
    expect(report).toMatchObject({ ok: true, rowsVerified: 5, unsealedRows: 0 });
  });

  it('rows dated two years back, appended after genuine rows, do not get the genuine rows pruned: the sweep deletes only rows older than the retention', async () => {
    const t = await newTenant();
    await append(t.id, 5); // genuine, now
    await append(t.id, 5, `now() - interval '2 years'`); // made up, old
    await checkpointTick(deps());
    const swept = await s.db.sql`select * from audit_retention_sweep(${t.id})`;
    expect(swept).toEqual([]); // the checkpoint's maxAt is now: nothing is due
    expect((await s.db.sql`select count(*)::int as n from audit_events where tenant_id = ${t.id}`)[0]!.n).toBe(10);
    expect((await verify(t)).ok).toBe(true);
  });

  it("a session of the app role holding a tenant's checkpoint locks: the checkpointer neither hangs nor stays quiet, and seals the other tenants", async () => {
    const victim = await newTenant();
    const other = await newTenant();
    await append(victim.id, 4, `now() - interval '1 hour'`);
    await append(other.id, 4);
    const holder = await s.db.sql.reserve();
    try {
      // 1. The lock audit_checkpoint_append takes per tenant, held by a session of its own: the database
      // function used to wait for it forever (and the whole tick with it, every tenant after this one too).
      await holder`select pg_advisory_lock(hashtextextended(${`audit-checkpoint-append:${victim.id}`}, 0))`;
      errors = [];
      const started = Date.now();
      const r = await checkpointTick(deps({ staleAfterMs: 60_000 }));
      expect(Date.now() - started).toBeLessThan(30_000);
      expect(await lastSeq(other.id)).toBeGreaterThanOrEqual(1);
      expect(await lastSeq(victim.id)).toBe(0);
      expect(r.checkpoints).toBeGreaterThanOrEqual(1);
      const first = errorsAbout(victim.id).map((e) => e.m);
      expect(
        first.some((m) => /sealing tenant .* failed .*lock timeout/.test(m)),
        first.join('\n'),
      ).toBe(true);
      expect(
        first.some((m) => /unsealed for 60 min/.test(m)),
        first.join('\n'),
      ).toBe(true);
      await holder`select pg_advisory_unlock_all()`;

      // 2. The checkpointer's own per-tenant lock, held the same way: the tenant used to be skipped in
      // silence ("another worker seals it") forever. Skipped, yes (that is how workers share tenants),
      // but once its oldest unsealed row is older than the alarm threshold, an error-level line says so.
      await holder`select pg_advisory_lock(hashtextextended(${`audit-checkpoint:${victim.id}`}, 0))`;
      errors = [];
      await checkpointTick(deps({ staleAfterMs: 60_000 }));
      expect(await lastSeq(victim.id)).toBe(0);
      const second = errorsAbout(victim.id).map((e) => e.m);
      expect(second, second.join('\n')).toHaveLength(1);
      expect(second[0]).toMatch(/unsealed for 60 min; no worker could take its checkpoint lock .*audit-checkpoint:/);
      // Below the threshold it is the ordinary "another worker has it" and stays quiet.
      errors = [];
      await checkpointTick(deps({ staleAfterMs: 2 * 60 * 60_000 }));
      expect(errorsAbout(victim.id)).toEqual([]);
      await holder`select pg_advisory_unlock_all()`;
    } finally {
      holder.release();
    }
    // Released: the next tick seals the tenant, and its trail verifies.
    errors = [];
    await checkpointTick(deps());
    expect(await lastSeq(victim.id)).toBe(1);
    expect(errorsAbout(victim.id)).toEqual([]);
    expect((await verify(victim)).ok).toBe(true);
  });
});
