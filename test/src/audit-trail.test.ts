import {
  checkpointTick,
  publicKeyFromJwk,
  retentionTick,
  verifyAuditExport,
  verifyTenantTrail,
  type AuditPublicJwk,
  type CheckpointerDeps,
} from '@mcprt/audit';
import { parseKeyring } from '@mcprt/keyring';
import { createDb, tenantsRepository, type DbHandle } from '@mcprt/db';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { apiKeyCreate, auditVerify } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';

/**
 * Signed, chained audit checkpoints; `audit verify` and the offline verifier
 * name the first missing, altered or reordered row; retention removes only old, sealed rows.
 */

const silent = { info: () => undefined, warn: () => undefined, error: () => undefined };

describe('verifiable audit trail and retention', () => {
  let s: Stack;
  let owner: DbHandle;
  let deps: CheckpointerDeps;
  let n = 0;

  const newTenant = async () =>
    tenantsRepository(s.db.db).create({ slug: `${s.tenant.slug}-${++n}`, displayName: 't', idpIssuer: s.idp.issuer, enabledTools: ['echo'] });
  /** `count` audit rows appended as the app role, each with its own reason `r<i>`. */
  const append = async (tenantId: string, count: number, at?: string) =>
    s.db.sql`insert into audit_events (tenant_id, tool, action, decision, reason, at)
      select ${tenantId}, 'echo', 'tool_call.accepted', 'allow', 'r' || g, coalesce(${at ?? null}::timestamptz, now()) from generate_series(1, ${count}) g`;
  const idsOf = async (tenantId: string) =>
    (await s.db.sql`select id::int from audit_events where tenant_id = ${tenantId} order by id`).map((r) => r.id as number);
  const keysFor = (tenantId: string) => {
    const keys = new Map<string, ReturnType<typeof publicKeyFromJwk>>();
    return fetch(`${s.config.PUBLIC_URL}/t/${tenantSlug.get(tenantId)}/v1/audit-keys`)
      .then((r) => r.json() as Promise<{ keys: AuditPublicJwk[] }>)
      .then((b) => {
        for (const k of b.keys) keys.set(k.kid, publicKeyFromJwk(k));
        return keys;
      });
  };
  const tenantSlug = new Map<string, string>();
  const verify = async (tenantId: string) => verifyTenantTrail(s.db.sql, tenantId, await keysFor(tenantId));
  /** As the table owner with triggers off (session_replication_role = replica): what an attacker with the owner's rights could do. */
  const tamper = (statement: (sql: DbHandle['sql']) => Promise<unknown>) =>
    owner.sql.begin(async (tx) => {
      await tx`set local session_replication_role = replica`;
      await statement(tx as unknown as DbHandle['sql']);
    });

  async function sealedTenant(rows: number) {
    const t = await newTenant();
    tenantSlug.set(t.id, t.slug);
    await append(t.id, rows);
    await checkpointTick(deps);
    return t;
  }

  async function exportOf(slug: string, query = ''): Promise<string[]> {
    const { key } = await apiKeyCreate({ db: s.db.db, sql: s.db.sql, config: s.config, out: () => undefined }, { slug, scopes: 'audit:read' });
    const r = await fetch(`${s.config.PUBLIC_URL}/t/${slug}/v1/admin/audit-events${query}`, {
      headers: { authorization: `Bearer ${key}`, accept: 'application/x-ndjson' },
    });
    expect(r.status).toBe(200);
    expect(r.headers.get('content-type')).toContain('application/x-ndjson');
    return (await r.text()).split('\n').filter(Boolean);
  }
  const publishedKeys = async (slug: string) =>
    ((await (await fetch(`${s.config.PUBLIC_URL}/t/${slug}/v1/audit-keys`)).json()) as { keys: AuditPublicJwk[] }).keys;

  beforeAll(async () => {
    s = await startStack({ label: 'audit', worker: 'none' });
    owner = createDb(s.database.ownerUrl, { max: 2 });
    deps = { sql: s.db.sql, keyring: parseKeyring(s.config.SEAL_KEYS), maxRows: 40, settleMs: 5_000, log: silent };
  });
  afterAll(async () => {
    await owner?.close();
    await s?.close();
  });

  it('an untouched trail verifies; rows appended later are reported as not sealed yet', async () => {
    const t = await sealedTenant(100);
    let r = await verify(t.id);
    expect(r).toMatchObject({ ok: true, checkpoints: 3, rowsVerified: 100, unsealedRows: 0, findings: [] });
    await append(t.id, 7);
    r = await verify(t.id);
    expect(r).toMatchObject({ ok: true, rowsVerified: 100, unsealedRows: 7 });
    await checkpointTick(deps);
    expect(await verify(t.id)).toMatchObject({ ok: true, checkpoints: 4, rowsVerified: 107, unsealedRows: 0 });
    const cps = await s.db.sql`select seq, prev_hash, hash, row_count, key_id from audit_checkpoints where tenant_id = ${t.id} order by seq`;
    expect(cps.map((c) => c.row_count)).toEqual([40, 40, 20, 7]);
    expect(cps[0]!.prev_hash).toBe('0'.repeat(64));
    expect(cps[1]!.prev_hash).toBe(cps[0]!.hash);
    // The CLI command prints the same verdict.
    const out: string[] = [];
    const cli = await auditVerify({ db: s.db.db, sql: s.db.sql, config: s.config, out: (l) => out.push(l) }, { slug: t.slug });
    expect(cli.exitCode).toBe(0);
    expect(out[0]).toMatch(/^ok: tenant .*: 4 checkpoint\(s\), 107 row\(s\) verified/);
  });

  it('names the row after an edit, a delete or a reorder made as the table owner, and an altered checkpoint', async () => {
    const edited = await sealedTenant(60);
    const e = (await idsOf(edited.id))[45]!;
    await tamper((sql) => sql`update audit_events set decision = 'deny' where id = ${e}`);
    let r = await verify(edited.id);
    expect(r.ok).toBe(false);
    expect(r.findings[0]).toMatchObject({ kind: 'altered', rowId: e, checkpointSeq: 2 });
    const out: string[] = [];
    expect((await auditVerify({ db: s.db.db, sql: s.db.sql, config: s.config, out: (l) => out.push(l) }, { slug: edited.slug })).exitCode).toBe(1);
    expect(out[0]).toBe(`FAILED: tenant ${edited.slug}: row ${e} differs from what checkpoint 2 sealed (altered)`);

    const deleted = await sealedTenant(60);
    const d = (await idsOf(deleted.id))[10]!;
    await tamper((sql) => sql`delete from audit_events where id = ${d}`);
    r = await verify(deleted.id);
    expect(r.findings[0]).toMatchObject({ kind: 'missing', rowId: d, checkpointSeq: 1 });
    expect(r.findings).toHaveLength(1);

    const reordered = await sealedTenant(60);
    const [a, b] = (await idsOf(reordered.id)).slice(20, 22);
    // Swap the two rows' contents (their ids stay): the order of events is changed.
    await tamper(
      (sql) =>
        sql`update audit_events x set reason = y.reason from audit_events y where (x.id, y.id) in ((${a!}::bigint, ${b!}::bigint), (${b!}::bigint, ${a!}::bigint))`,
    );
    r = await verify(reordered.id);
    expect(r.findings[0]).toMatchObject({ kind: 'reordered', rowId: a, message: `row ${a} holds what checkpoint 1 sealed as row ${b} (reordered)` });

    const forged = await sealedTenant(60);
    await tamper((sql) => sql`update audit_checkpoints set max_at = '2020-01-01T00:00:00.000000Z' where tenant_id = ${forged.id} and seq = 1`);
    r = await verify(forged.id);
    expect(r.findings[0]).toMatchObject({ kind: 'checkpoint_altered', checkpointSeq: 1 });
    // A checkpoint removed whole (with its rows) breaks the chain.
    const cut = await sealedTenant(100);
    await tamper(async (sql) => {
      const [cp] = await sql`select first_id, last_id from audit_checkpoints where tenant_id = ${cut.id} and seq = 2`;
      await sql`delete from audit_events where tenant_id = ${cut.id} and id between ${cp!.first_id} and ${cp!.last_id}`;
      await sql`delete from audit_checkpoints where tenant_id = ${cut.id} and seq = 2`;
    });
    r = await verify(cut.id);
    expect(r.findings[0]).toMatchObject({ kind: 'checkpoint_missing', checkpointSeq: 3 });
    // A re-signed forgery needs the private key: a checkpoint re-hashed with another key is unknown.
    expect(r.ok).toBe(false);
  });

  it('an NDJSON export verifies offline with only the published key, and fails the same way', async () => {
    const t = await sealedTenant(90);
    await append(t.id, 3); // not sealed yet: exported, reported as unsealed
    const keys = await publishedKeys(t.slug);
    expect(keys).toEqual([expect.objectContaining({ kty: 'OKP', crv: 'Ed25519', alg: 'EdDSA', kid: expect.stringMatching(/^audit-/) })]);
    const lines = await exportOf(t.slug);
    expect(JSON.parse(lines[0]!)).toMatchObject({ type: 'export', tenantId: t.id, filtered: false });
    // 90 sealed + 3 unsealed + the export's own audit row (api_key.read_audit, appended before it streams).
    expect(JSON.parse(lines.at(-1)!)).toEqual({ type: 'end', rows: 94, checkpoints: 3 });
    expect(JSON.parse(lines.at(-2)!)).toMatchObject({ type: 'event', action: 'api_key.read_audit', decision: 'allow' });
    const ok = await verifyAuditExport(lines, keys);
    expect(ok).toMatchObject({ ok: true, rowsVerified: 90, unsealedRows: 4, truncated: false });

    const events = lines.map((l, i) => [i, JSON.parse(l) as { type: string; id: number; reason: string }] as const).filter(([, l]) => l.type === 'event');
    const [i5, e5] = events[5]!;
    const [i6, e6] = events[6]!;
    // Edited line.
    const edited = [...lines];
    edited[i5] = JSON.stringify({ ...e5, reason: 'nothing to see' });
    expect((await verifyAuditExport(edited, keys)).findings[0]).toMatchObject({ kind: 'altered', rowId: e5.id });
    // Deleted line.
    const deleted = lines.filter((_, i) => i !== i6);
    expect((await verifyAuditExport(deleted, keys)).findings[0]).toMatchObject({ kind: 'missing', rowId: e6.id });
    // Two lines swapped.
    const swapped = [...lines];
    [swapped[i5], swapped[i6]] = [lines[i6]!, lines[i5]!];
    expect((await verifyAuditExport(swapped, keys)).findings[0]).toMatchObject({ kind: 'reordered' });
    // Contents swapped under the same ids.
    const moved = [...lines];
    moved[i5] = JSON.stringify({ ...e5, reason: e6.reason });
    moved[i6] = JSON.stringify({ ...e6, reason: e5.reason });
    expect((await verifyAuditExport(moved, keys)).findings[0]).toMatchObject({ kind: 'reordered', rowId: e5.id });
    // An altered checkpoint line, and a cut-off file.
    const cpAt = lines.findIndex((l) => l.includes('"type":"checkpoint"'));
    const forged = [...lines];
    forged[cpAt] = JSON.stringify({ ...JSON.parse(lines[cpAt]!), maxAt: '2020-01-01T00:00:00.000000Z' });
    expect((await verifyAuditExport(forged, keys)).findings[0]).toMatchObject({ kind: 'checkpoint_altered', checkpointSeq: 1 });
    expect(await verifyAuditExport(lines.slice(0, -1), keys)).toMatchObject({ ok: false, truncated: true });
    // Someone else's key (another tenant's): every checkpoint is unknown.
    const other = await sealedTenant(5);
    expect((await verifyAuditExport(lines, await publishedKeys(other.slug))).findings[0]).toMatchObject({ kind: 'unknown_key' });

    // Tampered in the database, then exported: offline names the same row as `audit verify`.
    const row = events[40]![1].id;
    await tamper((sql) => sql`update audit_events set reason = 'rewritten' where id = ${row}`);
    const db = await verify(t.id);
    const offline = await verifyAuditExport(await exportOf(t.slug), keys);
    expect(offline.findings[0]).toEqual(db.findings[0]);
    expect(offline.findings[0]).toMatchObject({ kind: 'altered', rowId: row });
  });

  it('a row whose transaction is still open is never sealed past (late commits are waited for)', async () => {
    const t = await newTenant();
    tenantSlug.set(t.id, t.slug);
    await append(t.id, 5);
    const reserved = await s.db.sql.reserve();
    try {
      await reserved`begin`;
      await reserved`insert into audit_events (tenant_id, action, decision) values (${t.id}, 'late.commit', 'info')`;
      await append(t.id, 5); // higher ids, committed while the late row is still open
      const skipped = await checkpointTick({ ...deps, settleMs: 300 });
      expect(skipped).toMatchObject({ settled: false, checkpoints: 0 });
      await reserved`commit`;
    } finally {
      reserved.release();
    }
    await checkpointTick(deps);
    const r = await verify(t.id);
    expect(r).toMatchObject({ ok: true, rowsVerified: 11, unsealedRows: 0 });
  });

  it('checkpointers racing on one tenant write one chain (advisory lock + unique seq)', async () => {
    const t = await newTenant();
    tenantSlug.set(t.id, t.slug);
    await append(t.id, 200);
    await Promise.all([checkpointTick(deps), checkpointTick(deps), checkpointTick(deps)]);
    const r = await verify(t.id);
    expect(r).toMatchObject({ ok: true, rowsVerified: 200, checkpoints: 5 });
  });

  it('retention removes only old, sealed rows, through the database function, and records it; the app role still cannot delete or update', async () => {
    const t = await newTenant();
    tenantSlug.set(t.id, t.slug);
    const old = new Date(Date.now() - 500 * 86_400_000).toISOString();
    await append(t.id, 50, old); // old → sealed in checkpoints 1-2 (40 + 10)
    await checkpointTick(deps);
    await append(t.id, 20); // recent, sealed in checkpoint 3
    await checkpointTick(deps);
    await append(t.id, 5, old); // old but not sealed: must stay
    // Call results: an old final call goes, an old pending call and a recent call stay.
    const user = await s.scope.users.upsert({ issuer: s.idp.issuer, subject: `ret-${t.slug}` });
    await s.db.sql`insert into tool_calls (id, tenant_id, user_id, tool, arguments, status, created_at, finished_at) values
      ('call_retentionoldfinal0000', ${t.id}, ${user.id}, 'echo', '{}', 'succeeded', ${old}, ${old}),
      ('call_retentionoldqueued000', ${t.id}, ${user.id}, 'echo', '{}', 'queued', ${old}, null),
      ('call_retentionrecentfinal0', ${t.id}, ${user.id}, 'echo', '{}', 'succeeded', now(), now())`;

    const r = await retentionTick({ sql: s.db.sql, batch: 1, log: silent }, [t.id]);
    expect(r).toEqual({ calls: 1, auditRows: 50, checkpoints: 2 });
    const left = await s.db
      .sql`select count(*)::int as n, count(*) filter (where at < now() - interval '1 day')::int as old from audit_events where tenant_id = ${t.id}`;
    expect(left[0]).toEqual({ n: 25, old: 5 });
    const calls = await s.db.sql`select id from tool_calls where tenant_id = ${t.id} order by id`;
    expect(calls.map((c) => c.id)).toEqual(['call_retentionoldqueued000', 'call_retentionrecentfinal0']);
    const log = await s.db.sql`select checkpoint_seq, rows_deleted from audit_retention_log where tenant_id = ${t.id} order by checkpoint_seq`;
    expect(log).toEqual([
      { checkpoint_seq: 1, rows_deleted: 40 },
      { checkpoint_seq: 2, rows_deleted: 10 },
    ]);
    // Nothing more is due; the chain still verifies (pruned checkpoints are known from the log).
    expect(await retentionTick({ sql: s.db.sql, batch: 100, log: silent }, [t.id])).toEqual({ calls: 0, auditRows: 0, checkpoints: 0 });
    expect(await verify(t.id)).toMatchObject({ ok: true, checkpoints: 3, rowsVerified: 20, unsealedRows: 5 });

    // The app role: no UPDATE or DELETE on the audit, the checkpoints or the log, even with the function's flag set.
    // Thunks: a postgres.js query starts when created, and each must be awaited by its own expect.
    for (const attempt of [
      () => s.db.sql`delete from audit_events where tenant_id = ${t.id}`,
      () => s.db.sql`update audit_events set reason = 'x' where tenant_id = ${t.id}`,
      () =>
        s.db.sql.begin(async (tx) => {
          await tx`select set_config('mcprt.audit_retention', 'on', true)`;
          await tx`delete from audit_events where tenant_id = ${t.id}`;
        }),
      () => s.db.sql`delete from audit_checkpoints where tenant_id = ${t.id}`,
      () => s.db.sql`update audit_checkpoints set hash = 'x' where tenant_id = ${t.id}`,
      () => s.db.sql`delete from audit_retention_log where tenant_id = ${t.id}`,
      () => s.db.sql`truncate audit_events`,
    ]) {
      await expect(attempt()).rejects.toMatchObject({ code: '42501' });
    }
    // Even the owner is refused by the triggers outside the function.
    await expect(owner.sql`delete from audit_events where tenant_id = ${t.id}`).rejects.toThrow(/append-only/);
  });

  it('exports 200 000 audit rows as NDJSON in flat memory, straight from Postgres', async () => {
    const t = await newTenant();
    tenantSlug.set(t.id, t.slug);
    await append(t.id, 200_000);
    const sealStart = performance.now();
    // (The tick also seals the few rows other tests of this database left unsealed.)
    expect((await checkpointTick({ ...deps, maxRows: 5_000 })).rows).toBeGreaterThanOrEqual(200_000);
    console.log(`checkpointer: 200 000 rows sealed in 40 checkpoints in ${Math.round(performance.now() - sealStart)} ms`);
    const keys = await publishedKeys(t.slug);
    const { key } = await apiKeyCreate({ db: s.db.db, sql: s.db.sql, config: s.config, out: () => undefined }, { slug: t.slug, scopes: 'audit:read' });
    // The API runs in this process. Live memory is what counts: every 20 000 lines a full GC runs
    // (gc exposed at run time) and the heap left is recorded; RSS is sampled all along.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    gc();
    const base = process.memoryUsage();
    const liveHeap: number[] = [];
    let peakRss = base.rss;
    const sampler = setInterval(() => (peakRss = Math.max(peakRss, process.memoryUsage().rss)), 20);
    const r = await fetch(`${s.config.PUBLIC_URL}/t/${t.slug}/v1/admin/audit-events`, {
      headers: { authorization: `Bearer ${key}`, accept: 'application/x-ndjson' },
    });
    expect(r.status).toBe(200);
    // Read it as a stream and verify it line by line as it arrives (the verifier keeps one checkpoint).
    let bytes = 0;
    let count = 0;
    async function* linesOf(body: ReadableStream<Uint8Array>) {
      const decoder = new TextDecoder();
      let rest = '';
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        bytes += chunk.length;
        const text = rest + decoder.decode(chunk, { stream: true });
        const parts = text.split('\n');
        rest = parts.pop()!;
        for (const p of parts) {
          if (++count % 20_000 === 0) {
            gc();
            liveHeap.push(process.memoryUsage().heapUsed);
          }
          yield p;
        }
      }
      if (rest) yield rest;
    }
    const report = await verifyAuditExport(linesOf(r.body!), keys);
    clearInterval(sampler);
    expect(report).toMatchObject({ ok: true, rowsVerified: 200_000, checkpoints: 40, truncated: false });
    const mib = (b: number) => b / 2 ** 20;
    const growth = liveHeap.map((h) => mib(h - base.heapUsed));
    console.log(
      `export: ${mib(bytes).toFixed(1)} MiB streamed in ${count} lines; live heap after GC, every 20k lines, vs before (MiB): ${growth.map((g) => g.toFixed(1)).join(' ')}; RSS growth ${mib(peakRss - base.rss).toFixed(1)} MiB`,
    );
    // ~58 MiB of text went through: holding the export (or its rows) would leave that much live.
    expect(bytes).toBeGreaterThan(50 * 2 ** 20);
    expect(growth.length).toBeGreaterThanOrEqual(9);
    expect(Math.max(...growth)).toBeLessThan(16);
    // Flat: the last samples are no higher than the first ones by more than a few MiB.
    expect(Math.max(...growth.slice(-3)) - Math.min(...growth.slice(0, 3))).toBeLessThan(6);
    expect(mib(peakRss - base.rss)).toBeLessThan(80);
  }, 180_000);
});
