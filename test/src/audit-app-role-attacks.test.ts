import { generateKeyPairSync } from 'node:crypto';
import {
  auditLeaf,
  auditSigningKey,
  auditTrail,
  verifyTenantTrail,
  checkpointHash,
  checkpointTick,
  GENESIS_HASH,
  publicKeyFromJwk,
  retentionTick,
  rowsHashOf,
  setRetention,
  signCheckpoint,
  verifyAuditExport,
  type AuditPublicJwk,
  type CheckpointerDeps,
  type CheckpointPayload,
} from '@mcprt/audit';
import { parseKeyring } from '@mcprt/keyring';
import { createDb, tenantsRepository, type DbHandle } from '@mcprt/db';
import { apiKeyCreate, auditVerify } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';

/**
 * The app role (DATABASE_URL: what the API, the workers and the CLI connect as) must not be able to
 * make an audit row disappear, or disappear from `audit verify` and the export, before it is sealed in
 * a genuine checkpoint and older than a retention the operator chose (docs/security.md "Append-only
 * audit", docs/audit.md "What the database enforces"). Every attack here runs as the app role
 * (`s.db.sql`).
 */

type Log = { o: object; m: string };

describe('audit: what the app role writes cannot erase or hide audit rows', () => {
  let s: Stack;
  let owner: DbHandle;
  let deps: CheckpointerDeps;
  let errors: Log[] = [];
  let n = 0;
  /** Error-level lines about tenant `id` (other tenants of this database may have been left broken by earlier tests). */
  const errorsAbout = (id: string) => errors.filter((e) => (e.o as { tenantId?: string }).tenantId === id);
  const keyring = () => parseKeyring(s.config.SEAL_KEYS);
  const quiet = () => ({ info: () => undefined, warn: () => undefined, error: (o: object, m: string) => errors.push({ o, m }) });

  const newTenant = async () => {
    const t = await tenantsRepository(s.db.db).create({ slug: `${s.tenant.slug}-${++n}`, displayName: 't', idpIssuer: s.idp.issuer, enabledTools: ['echo'] });
    return t;
  };
  /** `count` audit rows appended as the app role. */
  const append = async (tenantId: string, count: number, opts: { at?: string; user?: string } = {}) =>
    s.db.sql`insert into audit_events (tenant_id, user_id, tool, action, decision, reason, at)
      select ${tenantId}, ${opts.user ?? null}, 'echo', 'tool_call.accepted', 'allow', 'r' || g, coalesce(${opts.at ?? null}::timestamptz, now())
      from generate_series(1, ${count}) g`;
  const countOf = async (tenantId: string) => (await s.db.sql`select count(*)::int as n from audit_events where tenant_id = ${tenantId}`)[0]!.n as number;
  const keysFor = async (slug: string) => {
    const b = (await (await fetch(`${s.config.PUBLIC_URL}/t/${slug}/v1/audit-keys`)).json()) as { keys: AuditPublicJwk[] };
    return b.keys;
  };
  const verify = async (t: { id: string; slug: string }) =>
    verifyTenantTrail(s.db.sql, t.id, new Map((await keysFor(t.slug)).map((k) => [k.kid, publicKeyFromJwk(k)])));
  /** `pnpm cli audit verify --slug`, in process: exit code and first line. */
  const cliVerify = async (slug: string) => {
    const out: string[] = [];
    const r = await auditVerify({ db: s.db.db, sql: s.db.sql, config: s.config, out: (l) => out.push(l) }, { slug });
    return { exitCode: r.exitCode, first: out[0] };
  };
  async function exportOf(slug: string): Promise<string[]> {
    const { key } = await apiKeyCreate({ db: s.db.db, sql: s.db.sql, config: s.config, out: () => undefined }, { slug, scopes: 'audit:read' });
    const r = await fetch(`${s.config.PUBLIC_URL}/t/${slug}/v1/admin/audit-events`, {
      headers: { authorization: `Bearer ${key}`, accept: 'application/x-ndjson' },
    });
    expect(r.status).toBe(200);
    return (await r.text()).split('\n').filter(Boolean);
  }
  const sweepAsAppRole = async (tenantId: string) => s.db.sql`select * from audit_retention_sweep(${tenantId})`;

  /**
   * A checkpoint made up by whoever holds the app role: over the tenant's rows after its last
   * checkpoint (up to `upTo`), with whatever fields it likes, hashed consistently and signed with
   * `signWith` (default: a key of its own; the keyring's audit key is not in the database).
   */
  async function forge(
    tenantId: string,
    opts: { upTo?: number; skipId?: number; maxAt?: string; prevHash?: string; seq?: number; signWith?: 'own' | 'real'; leafOf?: 'real' | 'made-up' } = {},
  ) {
    const trail = auditTrail(s.db.sql, tenantId);
    const prev = await trail.lastCheckpoint();
    const rows = [];
    for await (const r of trail.rowsBetween(prev?.lastId ?? 0, opts.upTo ?? null)) if (r.id !== opts.skipId) rows.push(r);
    const leaves = Buffer.concat(rows.map((r) => (opts.leafOf === 'made-up' ? Buffer.alloc(32, 7) : auditLeaf(r))));
    const real = auditSigningKey(keyring(), tenantId)!;
    const payload: CheckpointPayload = {
      v: 1,
      tenantId,
      seq: opts.seq ?? (prev?.seq ?? 0) + 1,
      firstId: rows[0]!.id,
      lastId: rows.at(-1)!.id,
      count: rows.length,
      minAt: rows.map((r) => r.at).sort()[0]!,
      maxAt:
        opts.maxAt ??
        rows
          .map((r) => r.at)
          .sort()
          .at(-1)!,
      rowsHash: rowsHashOf(leaves),
      prevHash: opts.prevHash ?? prev?.hash ?? GENESIS_HASH,
      keyId: real.keyId,
    };
    const signer = opts.signWith === 'real' ? real.privateKey : generateKeyPairSync('ed25519').privateKey;
    return { ...payload, hash: checkpointHash(payload), signature: signCheckpoint(payload, signer), ids: rows.map((r) => r.id), leaves };
  }
  type Forged = Awaited<ReturnType<typeof forge>>;
  const appendThroughFunction = (c: Forged) =>
    s.db.sql`select audit_checkpoint_append(${c.tenantId}, ${c.seq}, ${c.firstId}, ${c.lastId}, ${c.count}, ${c.minAt}, ${c.maxAt}, ${c.rowsHash},
      ${c.prevHash}, ${c.keyId}, ${c.hash}, ${c.signature}) as written`;
  const insertPlain = (sql: DbHandle['sql'], c: Forged) =>
    sql`insert into audit_checkpoints (tenant_id, seq, first_id, last_id, row_count, min_at, max_at, rows_hash, prev_hash, hash, key_id, signature, ids, leaves)
      values (${c.tenantId}, ${c.seq}, ${c.firstId}, ${c.lastId}, ${c.count}, ${c.minAt}, ${c.maxAt}, ${c.rowsHash}, ${c.prevHash}, ${c.hash}, ${c.keyId},
        ${c.signature}, ${c.ids}::bigint[], ${c.leaves})`;

  beforeAll(async () => {
    s = await startStack({ label: 'audit-atk', worker: 'none' });
    owner = createDb(s.database.ownerUrl, { max: 2 });
    deps = { sql: s.db.sql, keyring: keyring(), maxRows: 40, settleMs: 5_000, log: quiet() };
  });
  afterAll(async () => {
    await owner?.close();
    await s?.close();
  });

  it('a retention in the future, zero or under the floor is refused; sweeping then deletes nothing and verify stays ok', async () => {
    errors = [];
    const t = await newTenant();
    await append(t.id, 19); // the last hour's rows
    await checkpointTick(deps);
    expect(await countOf(t.id)).toBe(19);
    // The attack as reported: a retention of -3650 days (a cutoff ten years ahead), then the sweep.
    for (const days of [-3650, 0, -1]) {
      await expect(
        s.db.sql`insert into tenant_retention (tenant_id, call_result_days, audit_event_days) values (${t.id}, 30, ${days})
          on conflict (tenant_id) do update set audit_event_days = ${days}`,
      ).rejects.toMatchObject({ code: '23514' });
    }
    await setRetention(s.db.sql, t.id, { auditEventDays: 400 }); // a row to update (+1 audit row: tenant.retention_changed)
    for (const days of [-3650, 0, -1]) {
      await expect(
        s.db.sql`insert into tenant_retention (tenant_id, call_result_days, audit_event_days) values (${t.id}, 30, 400)
          on conflict (tenant_id) do update set audit_event_days = ${days}`,
      ).rejects.toMatchObject({ code: '23514' });
      await expect(s.db.sql`update tenant_retention set audit_event_days = ${days} where tenant_id = ${t.id}`).rejects.toMatchObject({ code: '23514' });
    }
    // Under the owner's floor (30 days by default): refused, naming the floor; also through the CLI's path.
    await expect(s.db.sql`update tenant_retention set audit_event_days = 1 where tenant_id = ${t.id}`).rejects.toThrow(
      /below the floor of 30 days set by the database owner/,
    );
    await expect(setRetention(s.db.sql, t.id, { auditEventDays: 29 })).rejects.toMatchObject({ code: '23514' });
    await checkpointTick(deps);
    // The floor is the owner's: the app role cannot lower it.
    await expect(s.db.sql`update audit_retention_floor set audit_event_days = 1`).rejects.toMatchObject({ code: '42501' });
    await expect(s.db.sql`insert into audit_retention_floor values (false, 1)`).rejects.toMatchObject({ code: '42501' });
    for (let i = 0; i < 3; i++) await sweepAsAppRole(t.id);
    expect(await countOf(t.id)).toBe(20);
    expect(await verify(t)).toMatchObject({ ok: true, rowsVerified: 20 });
    expect((await cliVerify(t.slug)).exitCode).toBe(0);
  });

  it('the sweep never goes under the floor, even for a retention set below it before the floor was raised', async () => {
    const t = await newTenant();
    const old = new Date(Date.now() - 50 * 86_400_000).toISOString();
    await append(t.id, 10, { at: old }); // 50 days old, sealed
    await checkpointTick(deps);
    await setRetention(s.db.sql, t.id, { auditEventDays: 40 });
    await owner.sql`update audit_retention_floor set audit_event_days = 60`;
    try {
      for (let i = 0; i < 3; i++) await sweepAsAppRole(t.id);
      expect(await countOf(t.id)).toBeGreaterThanOrEqual(10);
    } finally {
      await owner.sql`update audit_retention_floor set audit_event_days = 30`;
    }
    // With the floor back at 30 days the tenant's 40 days apply: the 50-day-old rows go, recorded with both numbers.
    const [swept] = await sweepAsAppRole(t.id);
    expect(swept).toMatchObject({ checkpoint_seq: 1, rows_deleted: 10, refused: null });
    const [log] = await s.db.sql`select audit_event_days, floor_days from audit_retention_log where tenant_id = ${t.id}`;
    expect(log).toEqual({ audit_event_days: 40, floor_days: 30 });
  });

  it('every change of a tenant retention writes an audit row, whatever path makes it', async () => {
    const t = await newTenant();
    await setRetention(s.db.sql, t.id, { auditEventDays: 90 });
    await s.db.sql`update tenant_retention set call_result_days = 7 where tenant_id = ${t.id}`;
    await s.db.sql`delete from tenant_retention where tenant_id = ${t.id}`;
    const rows = await s.db.sql`select action, decision, reason from audit_events where tenant_id = ${t.id} order by id`;
    expect(rows.map((r) => r.action)).toEqual(['tenant.retention_changed', 'tenant.retention_changed', 'tenant.retention_changed']);
    expect(rows[0]!.reason).toMatch(
      /^defaults \(audit 400 days, call results 30 days\) → audit 90 days, call results 30 days \(database role mcprt_test_app\)$/,
    );
    expect(rows[1]!.reason).toMatch(/^audit 90 days, call results 30 days → audit 90 days, call results 7 days/);
    expect(rows[2]!.reason).toMatch(/^audit 90 days, call results 7 days → defaults/);
  });

  it('a forged checkpoint: no INSERT for the app role; the database function refuses made-up fields, a false maxAt, a gap and a fork', async () => {
    errors = [];
    const t = await newTenant();
    await append(t.id, 30);
    await checkpointTick(deps);
    await append(t.id, 6); // the newest rows, not sealed yet
    // The attack as reported: a made-up checkpoint over the newest rows, dated long ago, then the sweep.
    const made = await forge(t.id, { maxAt: '2020-01-01T00:00:00.000000Z' });
    await expect(insertPlain(s.db.sql, made)).rejects.toMatchObject({ code: '42501' });
    await expect(appendThroughFunction(made)).rejects.toThrow(/refused: maxAt, hash differ/);
    // Made-up leaves, a row left out, a link to another chain, a seq ahead: each refused, naming what differs.
    await expect(appendThroughFunction(await forge(t.id, { leafOf: 'made-up' }))).rejects.toThrow(/refused: rowsHash, hash differ/);
    const ids = (await s.db.sql`select id::int from audit_events where tenant_id = ${t.id} order by id desc limit 6`).map((r) => r.id as number).reverse();
    await expect(appendThroughFunction(await forge(t.id, { skipId: ids[2] }))).rejects.toThrow(/refused: count, rowsHash, hash differ/);
    await expect(appendThroughFunction(await forge(t.id, { skipId: ids[0] }))).rejects.toThrow(/refused: firstId, count, rowsHash, hash differ/);
    await expect(appendThroughFunction(await forge(t.id, { prevHash: 'ab'.repeat(32) }))).rejects.toThrow(/refused: prevHash, hash differ/);
    await expect(appendThroughFunction(await forge(t.id, { seq: 9 }))).rejects.toThrow(/next checkpoint is 2, not 9/);
    await expect(s.db.sql`select audit_checkpoint_append(${t.id}, 2, 1, 1, 1, 'a', 'b', 'c', 'd', 'e', 'f', null)`).rejects.toMatchObject({ code: '22004' });
    for (let i = 0; i < 3; i++) await sweepAsAppRole(t.id);
    expect(await countOf(t.id)).toBe(36);
    expect(await s.db.sql`select seq from audit_checkpoints where tenant_id = ${t.id}`).toHaveLength(1);
    // The honest checkpointer goes on from the genuine chain.
    await checkpointTick(deps);
    expect(await verify(t)).toMatchObject({ ok: true, checkpoints: 2, rowsVerified: 36, unsealedRows: 0 });
    expect(errorsAbout(t.id)).toEqual([]);
  });

  it('a checkpoint with true fields but a signature not made with the tenant key: the checkpointer refuses to chain and says so, verify names it, the sweep keeps its young rows', async () => {
    errors = [];
    const t = await newTenant();
    await append(t.id, 5);
    await checkpointTick(deps);
    await append(t.id, 4);
    const forged = await forge(t.id); // every field true, signed with a key of the attacker's own
    expect((await appendThroughFunction(forged))[0]!.written).toBe(true);
    await append(t.id, 3);
    const failures: string[] = [];
    const r = await checkpointTick({ ...deps, log: quiet(), integrityFailures: { inc: ({ job }) => failures.push(job) } });
    expect(r.refused).toBe(1);
    expect(failures).toEqual(['checkpointer']);
    expect(errorsAbout(t.id)).toEqual([
      {
        o: { tenantId: t.id, checkpointSeq: 2, problem: 'its signature does not verify' },
        m: expect.stringMatching(/^audit checkpointer: refusing to chain onto checkpoint 2 of tenant .*: its signature does not verify/),
      },
    ]);
    expect((await s.db.sql`select max(seq)::int as seq from audit_checkpoints where tenant_id = ${t.id}`)[0]!.seq).toBe(2);
    const report = await verify(t);
    expect(report.ok).toBe(false);
    expect(report.findings[0]).toMatchObject({ kind: 'checkpoint_altered', checkpointSeq: 2 });
    expect(await cliVerify(t.slug)).toMatchObject({ exitCode: 1, first: expect.stringMatching(/checkpoint 2: the signature does not match its fields/) });
    for (let i = 0; i < 3; i++) await sweepAsAppRole(t.id);
    expect(await countOf(t.id)).toBe(12);
  });

  it('a forged retention-log row: no INSERT for the app role; log rows already there hide no row from verify or the export', async () => {
    const t = await newTenant();
    const alice = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: `alice-${t.slug}` });
    const bob = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: `bob-${t.slug}` });
    await append(t.id, 6, { user: alice.id });
    await checkpointTick(deps);
    await append(t.id, 4, { user: bob.id }); // Bob's 4 rows, checkpoint 2
    await checkpointTick(deps);
    const [cp2] = await s.db.sql`select first_id, last_id from audit_checkpoints where tenant_id = ${t.id} and seq = 2`;
    const logRow = (sql: DbHandle['sql'], cutoff: string, at = 'now()') =>
      sql.unsafe(
        `insert into audit_retention_log (tenant_id, checkpoint_seq, first_id, last_id, rows_deleted, cutoff, at)
        values ($1, 2, $2, $3, 4, $4::timestamptz, ${at})`,
        [t.id, cp2!.first_id as string, cp2!.last_id as string, cutoff],
      );
    // The attack as reported, as the app role: refused.
    await expect(logRow(s.db.sql, new Date().toISOString())).rejects.toMatchObject({ code: '42501' });
    // A row like it written before this version (the app role could then): written here as the owner.
    await logRow(owner.sql, new Date().toISOString());
    // Verify and the export still check (and show) every row of the checkpoint the log row calls pruned.
    expect(await verify(t)).toMatchObject({ ok: true, checkpoints: 2, rowsVerified: 10 });
    expect(await cliVerify(t.slug)).toMatchObject({ exitCode: 0, first: expect.stringMatching(/2 checkpoint\(s\), 10 row\(s\) verified/) });
    const lines = await exportOf(t.slug);
    const bobs = lines.map((l) => JSON.parse(l) as { type: string; userId?: string }).filter((l) => l.type === 'event' && l.userId === bob.id);
    expect(bobs).toHaveLength(4);
    expect(JSON.parse(lines.find((l) => l.includes('"seq":2'))!)).toMatchObject({ type: 'checkpoint', pruned: false });
    expect(await verifyAuditExport(lines, await keysFor(t.slug))).toMatchObject({ ok: true, rowsVerified: 10 });
    // If Bob's rows are then removed (as the owner, triggers off), the log row does not excuse it:
    // its cutoff is not a retention at least the floor before the prune, so the rows are missing.
    await owner.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await tx`delete from audit_events where tenant_id = ${t.id} and user_id = ${bob.id}`;
    });
    const gone = await verify(t);
    expect(gone.ok).toBe(false);
    expect(gone.findings.map((f) => f.kind)).toEqual(['missing', 'missing', 'missing', 'missing']);
    const offline = await verifyAuditExport(await exportOf(t.slug), await keysFor(t.slug));
    expect(offline.findings.map((f) => f.kind)).toEqual(['missing', 'missing', 'missing', 'missing']);
  });

  it('a checkpoint already in the table that does not verify (written before the database sealed them): the checkpointer does not chain onto it', async () => {
    errors = [];
    const t = await newTenant();
    await append(t.id, 5);
    await checkpointTick(deps);
    await append(t.id, 4);
    // What the app role could insert before this version (written here as the owner): a made-up checkpoint over the newest rows.
    await insertPlain(owner.sql, await forge(t.id, { maxAt: '2020-01-01T00:00:00.000000Z' }));
    await append(t.id, 3);
    const r = await checkpointTick({ ...deps, log: quiet() });
    expect(r.refused).toBeGreaterThanOrEqual(1); // (the tenant of the previous test is refused too)
    expect(errorsAbout(t.id)).toEqual([{ o: { tenantId: t.id, checkpointSeq: 2, problem: 'its signature does not verify' }, m: expect.any(String) }]);
    expect((await s.db.sql`select max(seq)::int as seq from audit_checkpoints where tenant_id = ${t.id}`)[0]!.seq).toBe(2);
    // The sweep does not use it either: its rows are newer than its maxAt says.
    expect(await sweepAsAppRole(t.id)).toEqual([
      { checkpoint_seq: 2, rows_deleted: 0, refused: '4 of its rows are newer than the cutoff (its maxAt is false)' },
    ]);
    expect(await countOf(t.id)).toBe(12);
  });

  it('checkpoints written before the database sealed them are re-checked by the sweep: a false maxAt or false leaves are refused, loudly', async () => {
    errors = [];
    const t = await newTenant();
    const old = new Date(Date.now() - 500 * 86_400_000).toISOString();
    await append(t.id, 8, { at: old });
    await checkpointTick(deps); // checkpoint 1: genuine and old
    await append(t.id, 5); // recent rows …
    // … sealed by a checkpoint the app role once could insert (here as the owner): true leaves, false maxAt, signed with the real key.
    await insertPlain(owner.sql, await forge(t.id, { maxAt: old.replace(/Z$/, '000Z'), signWith: 'real' }));
    const failures: string[] = [];
    const r = await retentionTick({ sql: s.db.sql, batch: 10, log: quiet(), integrityFailures: { inc: ({ job }) => failures.push(job) } }, [t.id]);
    expect(r).toMatchObject({ auditRows: 8, checkpoints: 1, refused: 1 });
    expect(failures).toEqual(['retention']);
    expect(errorsAbout(t.id)).toEqual([
      {
        o: { tenantId: t.id, checkpointSeq: 2, problem: '5 of its rows are newer than the cutoff (its maxAt is false)' },
        m: expect.stringMatching(/^audit retention: checkpoint 2 of tenant .* does not hold up/),
      },
    ]);
    expect(await countOf(t.id)).toBe(5);

    // Made-up leaves (consistent with its rows hash and hash): refused too.
    const u = await newTenant();
    await append(u.id, 4, { at: old });
    await insertPlain(owner.sql, await forge(u.id, { leafOf: 'made-up', signWith: 'real' }));
    expect(await sweepAsAppRole(u.id)).toEqual([{ checkpoint_seq: 1, rows_deleted: 0, refused: '4 of its rows differ from what it sealed' }]);
    expect(await countOf(u.id)).toBe(4);
  });

  it("a retention-log row written before the log was the sweep's own does not make the sweep skip a checkpoint: it still prunes oldest first", async () => {
    errors = [];
    const t = await newTenant();
    const old = new Date(Date.now() - 500 * 86_400_000).toISOString();
    await append(t.id, 50, { at: old });
    await checkpointTick(deps); // 40 + 10
    const [cp1] = await s.db.sql`select first_id, last_id from audit_checkpoints where tenant_id = ${t.id} and seq = 1`;
    // Written here as the owner: what the app role could insert before (checkpoint 1 "pruned", its rows all there).
    await owner.sql.unsafe(
      `insert into audit_retention_log (tenant_id, checkpoint_seq, first_id, last_id, rows_deleted, cutoff) values ($1, 1, $2, $3, 40, now())`,
      [t.id, cp1!.first_id as string, cp1!.last_id as string],
    );
    // The sweep takes checkpoint 1 first (its rows exist), not checkpoint 2: pruned checkpoints stay a prefix of the chain.
    expect(await sweepAsAppRole(t.id)).toEqual([{ checkpoint_seq: 1, rows_deleted: 40, refused: null }]);
    expect(await sweepAsAppRole(t.id)).toEqual([{ checkpoint_seq: 2, rows_deleted: 10, refused: null }]);
    expect(await sweepAsAppRole(t.id)).toEqual([]);
    expect(await verify(t)).toMatchObject({ ok: true, checkpoints: 2, rowsVerified: 0 });
    expect(await verifyAuditExport(await exportOf(t.slug), await keysFor(t.slug))).toMatchObject({ ok: true, truncated: false });
  });

  it('the honest path: old sealed rows are pruned, verify stays ok, and an export verifies offline', async () => {
    errors = [];
    const t = await newTenant();
    const old = new Date(Date.now() - 500 * 86_400_000).toISOString();
    await append(t.id, 50, { at: old });
    await checkpointTick(deps); // 40 + 10
    await append(t.id, 7);
    await checkpointTick(deps);
    await append(t.id, 2); // unsealed
    expect(await retentionTick({ sql: s.db.sql, batch: 10, log: quiet() }, [t.id])).toEqual({ calls: 0, auditRows: 50, checkpoints: 2 });
    const log = await s.db
      .sql`select checkpoint_seq, rows_deleted, audit_event_days, floor_days from audit_retention_log where tenant_id = ${t.id} order by checkpoint_seq`;
    expect(log).toEqual([
      { checkpoint_seq: 1, rows_deleted: 40, audit_event_days: 400, floor_days: 30 },
      { checkpoint_seq: 2, rows_deleted: 10, audit_event_days: 400, floor_days: 30 },
    ]);
    expect(await verify(t)).toMatchObject({ ok: true, checkpoints: 3, rowsVerified: 7, unsealedRows: 2 });
    expect((await cliVerify(t.slug)).exitCode).toBe(0);
    const lines = await exportOf(t.slug);
    const cps = lines.map((l) => JSON.parse(l) as { type: string; pruned?: boolean }).filter((l) => l.type === 'checkpoint');
    expect(cps.map((c) => c.pruned)).toEqual([true, true, false]);
    expect(await verifyAuditExport(lines, await keysFor(t.slug))).toMatchObject({ ok: true, rowsVerified: 7, truncated: false });
    expect(errorsAbout(t.id)).toEqual([]);
  });

  it('the database hashes rows exactly as the verifiers do, whatever text they hold', async () => {
    const t = await newTenant();
    const user = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: `enc-${t.slug}` });
    const nasty = ['"quoted" \\ back\\slash', 'tab\tnew\nline\r\b\f', '\u0001\u001f\u007f', 'é ü ß 日本 😀 \u2028\u2029', '</script>', ''];
    for (const text of nasty)
      await s.db.sql`insert into audit_events (tenant_id, user_id, client_id, call_id, tool, action, decision, reason, request_id)
        values (${t.id}, ${user.id}, ${text}, ${text}, ${text}, ${text || 'a'}, ${text || 'd'}, ${text}, ${text})`;
    await s.db.sql`insert into audit_events (tenant_id, action, decision, at) values (${t.id}, 'nulls', 'info', '2026-01-02T03:04:05.000001Z')`;
    await checkpointTick(deps);
    expect(errorsAbout(t.id)).toEqual([]);
    expect(await verify(t)).toMatchObject({ ok: true, checkpoints: 1, rowsVerified: nasty.length + 1 });
  });
});
