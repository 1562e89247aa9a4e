import { randomBytes } from 'node:crypto';
import { loadConfig } from '@mcprt/config';
import { appRoleProblems, checkAppRole, createDb, ensureDatabase, runMigrations, scramSha256Verifier, tenantsRepository, type DbHandle } from '@mcprt/db';
import { forTenant } from '@mcprt/calls';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startWorker } from '@mcprt/worker';
import { startStack } from './harness/stack.js';
import { appUrlOf, configFrom, namespace, TEST_APP_ROLE, TEST_DATABASE_URL, testEnv } from './harness/test-config.js';
import { cloneDatabase, type TestDatabase } from './harness/test-database.js';

const PERMISSION_DENIED = '42501'; // insufficient_privilege

/** The rejection's SQLSTATE and message (postgres.js errors carry `code`). */
async function refusal(p: Promise<unknown>): Promise<{ code: string | undefined; message: string }> {
  try {
    await p;
  } catch (e) {
    return { code: (e as { code?: string }).code, message: (e as Error).message };
  }
  return { code: 'NOT REFUSED', message: 'the statement succeeded' };
}

/**
 * The API and workers connect as the app role, and the database — not the code —
 * keeps that role from altering or erasing audit history. Every statement an attacker holding the
 * app's connection (a compromised API or worker, SQL injection) would use is tried, as that role.
 */
let database: TestDatabase;
beforeAll(async () => {
  database = await cloneDatabase('roles');
});
afterAll(() => database?.drop());

describe('database roles: the app role cannot alter or erase the audit (real Postgres)', () => {
  let owner: DbHandle; // the test database's owner: setup and inspection only
  let app: DbHandle; // exactly what the API and workers hold
  let tenantId: string;
  let auditId: string;

  beforeAll(async () => {
    owner = createDb(database.ownerUrl, { max: 2 });
    app = createDb(database.appUrl, { max: 1 });
    tenantId = (
      await tenantsRepository(app.db).create({
        slug: namespace('roles').slug,
        displayName: 'Roles',
        idpIssuer: 'https://roles.example',
        enabledTools: ['echo'],
      })
    ).id;
    await forTenant(app.db, tenantId).audit.append({ action: 'test.original', decision: 'info', reason: 'untouched' });
    auditId = String((await owner.sql`select id from audit_events where tenant_id = ${tenantId}`)[0]!.id);
  });
  afterAll(async () => {
    await app?.close();
    await owner?.close();
  });

  it('the test app connection is the app role, a LOGIN role that is not the owner', async () => {
    const [me] = await app.sql`select current_user as u, (select rolcanlogin from pg_roles where rolname = current_user) as login`;
    expect(me).toEqual({ u: TEST_APP_ROLE, login: true });
    expect(await appRoleProblems(app.sql)).toEqual([]);
    const owners = await owner.sql`select distinct pg_get_userbyid(relowner) as o from pg_class where relnamespace = 'public'::regnamespace`;
    expect(owners.map((r) => r.o)).not.toContain(TEST_APP_ROLE);
  });

  // Each one: what it would do to the audit history if it ran.
  const FORBIDDEN: [string, (t: string) => string][] = [
    ['UPDATE audit_events (rewrite a row)', (t) => `update audit_events set reason = 'rewritten' where tenant_id = '${t}'`],
    ['DELETE FROM audit_events (erase rows)', (t) => `delete from audit_events where tenant_id = '${t}'`],
    ['TRUNCATE audit_events (erase all)', () => `truncate audit_events`],
    ['DROP TRIGGER (lift the append-only trigger)', () => `drop trigger audit_events_no_update_delete on audit_events`],
    ['ALTER TABLE … DISABLE TRIGGER', () => `alter table audit_events disable trigger audit_events_no_update_delete`],
    ['ALTER TABLE … DISABLE TRIGGER ALL', () => `alter table audit_events disable trigger all`],
    [
      'CREATE OR REPLACE the trigger function as a no-op',
      () => `create or replace function audit_events_append_only() returns trigger language plpgsql as $$ begin return old; end $$`,
    ],
    ['SET session_replication_role = replica (skips triggers)', () => `set session_replication_role = replica`],
    ['ALTER TABLE audit_events ADD COLUMN', () => `alter table audit_events add column forged text`],
    ['ALTER TABLE audit_events RENAME (swap in a fake)', () => `alter table audit_events rename to audit_events_old`],
    ['ALTER TABLE audit_events OWNER TO the app role', () => `alter table audit_events owner to ${TEST_APP_ROLE}`],
    ['DROP TABLE audit_events', () => `drop table audit_events`],
    ['DROP TABLE tool_calls (any table)', () => `drop table tool_calls`],
    ['CREATE TABLE', () => `create table audit_events_shadow (id int)`],
    ['CREATE SCHEMA', () => `create schema shadow`],
    ['setval on the audit id sequence', () => `select setval('audit_events_id_seq', 1)`],
    ['DELETE FROM the migrations journal', () => `delete from drizzle.__drizzle_migrations`],
    ['SET ROLE to the owner', () => `set role "${decodeURIComponent(new URL(database.ownerUrl).username)}"`],
    ['ALTER ROLE itself SUPERUSER', () => `alter role ${TEST_APP_ROLE} superuser`],
    // Only the database writes checkpoints, the retention log and the retention floor (migration 0009).
    [
      'INSERT INTO audit_checkpoints (a checkpoint the database did not compute)',
      (
        t,
      ) => `insert into audit_checkpoints (tenant_id, seq, first_id, last_id, row_count, min_at, max_at, rows_hash, prev_hash, hash, key_id, signature, ids, leaves)
        values ('${t}', 99, 1, 1, 1, 'a', 'b', 'c', 'd', 'e', 'f', 'g', '{1}', '\\x00')`,
    ],
    [
      'INSERT INTO audit_retention_log (claim rows were pruned)',
      (t) => `insert into audit_retention_log (tenant_id, checkpoint_seq, first_id, last_id, rows_deleted, cutoff) values ('${t}', 1, 1, 1, 1, now())`,
    ],
    ['UPDATE audit_retention_floor (lower the retention floor)', () => `update audit_retention_floor set audit_event_days = 1`],
    [
      'CREATE OR REPLACE the retention sweep',
      () =>
        `create or replace function audit_retention_sweep(p uuid) returns table (checkpoint_seq integer, rows_deleted integer, refused text) language sql as $$ select 1, 1, null::text $$`,
    ],
  ];

  it.each(FORBIDDEN)('refused with a permission error: %s', async (_name, statement) => {
    const r = await refusal(app.sql.unsafe(statement(tenantId)));
    expect(r.code, r.message).toBe(PERMISSION_DENIED);
    // Refused by the role's privileges, not (only) by the trigger, whose error also says 42501.
    expect(r.message).toMatch(/permission denied|must be owner|must be superuser/);
    expect(r.message).not.toMatch(/append-only/);
  });

  it('after all of that the audit row, the triggers and the table are as they were', async () => {
    // (Runs after the attacks: vitest runs a file's tests in order.)
    const rows = await owner.sql`select id::text, action, reason from audit_events where tenant_id = ${tenantId} order by id`;
    expect(rows[0]).toEqual({ id: auditId, action: 'test.original', reason: 'untouched' });
    const triggers = await owner.sql`select tgname, tgenabled from pg_trigger where tgrelid = 'audit_events'::regclass and not tgisinternal order by tgname`;
    expect(triggers.map((t) => [t.tgname, t.tgenabled])).toEqual([
      ['audit_events_no_truncate', 'O'],
      ['audit_events_no_update_delete', 'O'],
    ]);
    const cols = await owner.sql`select count(*)::int as n from information_schema.columns where table_name = 'audit_events' and column_name = 'forged'`;
    expect(cols[0]!.n).toBe(0);
    expect((await owner.sql`select to_regclass('audit_events_shadow') as t`)[0]!.t).toBeNull();
    // The trigger still binds the owner too: no one rewrites history without first changing the schema.
    expect((await refusal(owner.sql`update audit_events set reason = 'owner' where tenant_id = ${tenantId}`)).message).toMatch(
      /append-only \(UPDATE refused\)/,
    );
  });

  it('control: the app role INSERTs (ids from the sequence) and SELECTs audit rows, and does DML on the other tables', async () => {
    const audit = forTenant(app.db, tenantId).audit;
    await audit.append({ action: 'test.control.1', decision: 'info' });
    await audit.append({ action: 'test.control.2', decision: 'info' });
    const rows = await app.sql`select id, action from audit_events where tenant_id = ${tenantId} and action like 'test.control.%' order by id`;
    expect(rows.map((r) => r.action)).toEqual(['test.control.1', 'test.control.2']);
    expect(BigInt(rows[1]!.id as string) > BigInt(rows[0]!.id as string)).toBe(true);
    await app.sql`update tenants set display_name = 'Roles (renamed)' where id = ${tenantId}`;
    const user = await forTenant(app.db, tenantId).users.upsert({ issuer: 'https://roles.example', subject: 'ctl' });
    await app.sql`delete from users where id = ${user.id}`;
  });

  it('deleting a tenant cannot take its audit rows with it', async () => {
    const r = await refusal(app.sql`delete from tenants where id = ${tenantId}`);
    expect(r.code, r.message).toBe('23503'); // foreign_key_violation: audit_events → tenants is ON DELETE NO ACTION
  });

  let stackSealKeys: string | undefined;
  it('the API and the worker under test connect as the app role', async () => {
    const s = await startStack({ label: 'roles-stack', database });
    stackSealKeys = s.config.SEAL_KEYS;
    try {
      const client = await s.client(await s.token('alice'));
      const res = CallToolResultSchema.parse(await client.callTool({ name: 'echo', arguments: { message: 'as the app role' } }));
      expect(res.isError ?? false).toBe(false);
      for (const pool of [s.api!.resources.db.sql, s.worker!.resources.db.sql]) {
        expect(await pool`select current_user::text as c, session_user::text as s`).toEqual([{ c: TEST_APP_ROLE, s: TEST_APP_ROLE }]);
        expect(await appRoleProblems(pool)).toEqual([]);
      }
      // Its writes (call row and audit rows) went through that role.
      const audit = await owner.sql`select count(*)::int as n from audit_events where tenant_id = ${s.tenant.id}`;
      expect(audit[0]!.n).toBeGreaterThan(0);
    } finally {
      await s.close();
    }
  });

  it('in development a process may migrate at start (as the owner, MIGRATE_DATABASE_URL) and then runs as the app role', async () => {
    // The keys the stack above sealed this database's secrets with: a process started with others
    // refuses to start (the start-up key check), as it should.
    const env = testEnv({
      port: 0,
      queuePrefix: namespace('roles-migrate').queuePrefix,
      databaseUrl: database.appUrl,
      ...(stackSealKeys ? { sealKeys: stackSealKeys } : {}),
      extra: { MIGRATE_DATABASE_URL: database.ownerUrl },
    });
    const worker = await startWorker(configFrom(env)); // default: migrate at start
    try {
      expect(await worker.resources.db.sql`select session_user::text as s`).toEqual([{ s: TEST_APP_ROLE }]);
    } finally {
      await worker.stop();
    }
  });

  it('the apps refuse to start in production on a role that could change the schema (and warn elsewhere)', async () => {
    const ownerProblems = await appRoleProblems(owner.sql);
    expect(ownerProblems).toContain('is a superuser');
    await expect(checkAppRole(owner.sql, { production: true, warn: () => undefined })).rejects.toThrow(/rights the apps must not have[\s\S]*superuser/);
    const warned: string[][] = [];
    await checkAppRole(owner.sql, { production: false, warn: (_m, p) => warned.push(p) });
    expect(warned[0]).toContain('is a superuser');
    await checkAppRole(app.sql, { production: true, warn: () => warned.push(['unexpected']) });
    expect(warned).toHaveLength(1);
  });

  it('the self-check names INSERT on a table only the database writes', async () => {
    await owner.sql.unsafe(`grant insert on audit_checkpoints to ${TEST_APP_ROLE}`);
    try {
      expect(await appRoleProblems(app.sql)).toEqual(['holds audit_checkpoints: INSERT on a table only the database writes']);
    } finally {
      await owner.sql.unsafe(`revoke insert on audit_checkpoints from ${TEST_APP_ROLE}`);
    }
    expect(await appRoleProblems(app.sql)).toEqual([]);
  });

  it('production config refuses MIGRATE_DATABASE_URL: the API and workers never hold the owner', () => {
    const prod = { NODE_ENV: 'production', PUBLIC_URL: 'https://mcp.example.com', SEAL_KEYS: `k1:${randomBytes(32).toString('base64url')}` };
    expect(() => loadConfig(prod)).not.toThrow();
    expect(() => loadConfig({ ...prod, MIGRATE_DATABASE_URL: 'postgres://owner:secret-pw@db/mcprt' })).toThrow(
      /MIGRATE_DATABASE_URL: must not be set in production/,
    );
    try {
      loadConfig({ ...prod, MIGRATE_DATABASE_URL: 'postgres://owner:secret-pw@db/mcprt' });
    } catch (e) {
      expect((e as Error).message).not.toContain('secret-pw');
    }
  });

  it('the migration refuses an app role that is the owner, a superuser or may create roles/databases', async () => {
    await expect(runMigrations(database.ownerUrl, { appUrl: database.ownerUrl })).rejects.toThrow(/same role/);
    const bad = `mcprt_test_bad_${randomBytes(4).toString('hex')}`;
    await owner.sql`create role ${owner.sql(bad)} login createdb`;
    try {
      const u = new URL(database.ownerUrl);
      u.username = bad;
      await expect(runMigrations(database.ownerUrl, { appUrl: u.toString() })).rejects.toThrow(/superuser or may create roles\/databases/);
      const other = new URL(database.appUrl);
      other.pathname = '/some_other_db';
      await expect(runMigrations(database.ownerUrl, { appUrl: other.toString() })).rejects.toThrow(/different databases/);
    } finally {
      await owner.sql`drop role ${owner.sql(bad)}`;
    }
  });

  it("the app role's password is set from DATABASE_URL as a SCRAM verifier (never in clear), computed as Postgres does", async () => {
    // Postgres's own verifier for a password, recomputed with its salt by ours: the algorithms agree.
    const probe = `mcprt_test_scram_${randomBytes(4).toString('hex')}`;
    await owner.sql.begin(async (tx) => {
      await tx`set local password_encryption = 'scram-sha-256'`;
      await tx.unsafe(`create role ${probe} nologin password 'pässwörd-1'`);
    });
    try {
      const [pg] = await owner.sql`select rolpassword as v from pg_authid where rolname = ${probe}`;
      const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(pg!.v as string)!;
      expect(scramSha256Verifier('pässwörd-1', Buffer.from(m[2]!, 'base64'), Number(m[1]))).toBe(pg!.v);
    } finally {
      await owner.sql.unsafe(`drop role ${probe}`);
    }
    // The app role's stored verifier is the one for the password in the app role's URL.
    const [stored] = await owner.sql`select rolpassword as v from pg_authid where rolname = ${TEST_APP_ROLE}`;
    const m = /^SCRAM-SHA-256\$(\d+):([^$]+)\$/.exec(stored!.v as string)!;
    const password = decodeURIComponent(new URL(database.appUrl).password);
    expect(scramSha256Verifier(password, Buffer.from(m[2]!, 'base64'), Number(m[1]))).toBe(stored!.v);
  });

  it('roles are cluster-wide: two databases migrating at once both create and set up the same new app role', async () => {
    const tag = randomBytes(4).toString('hex');
    const role = `mcprt_test_race_${tag}`;
    const dbs = [`mcprt_test_race_a_${tag}`, `mcprt_test_race_b_${tag}`];
    const ownerUrls = dbs.map((d) => Object.assign(new URL(TEST_DATABASE_URL), { pathname: `/${d}` }).toString());
    const appUrls = ownerUrls.map((o) => Object.assign(new URL(appUrlOf(o)), { username: role }).toString());
    try {
      for (const o of ownerUrls) await ensureDatabase(o);
      await Promise.all(ownerUrls.map((o, i) => runMigrations(o, { appUrl: appUrls[i]! })));
      for (const a of appUrls) {
        const h = createDb(a, { max: 1 });
        try {
          expect((await h.sql`select current_user as u`)[0]!.u).toBe(role);
          expect(await appRoleProblems(h.sql)).toEqual([]);
          expect((await refusal(h.sql`truncate audit_events`)).code).toBe(PERMISSION_DENIED);
        } finally {
          await h.close();
        }
      }
    } finally {
      const admin = createDb(Object.assign(new URL(TEST_DATABASE_URL), { pathname: '/postgres' }).toString(), { max: 1 });
      for (const d of dbs) await admin.sql.unsafe(`drop database if exists "${d}" with (force)`);
      await admin.sql.unsafe(`drop role if exists ${role}`);
      await admin.close();
    }
  });
});
