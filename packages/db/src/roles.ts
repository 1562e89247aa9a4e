import { createHash, createHmac, pbkdf2Sync, randomBytes } from 'node:crypto';
import type postgres from 'postgres';

/**
 * The two database roles (docs/security.md "Append-only audit"), so that the processes serving
 * requests cannot change the schema or rewrite the audit history:
 *
 * - the **owner** (MIGRATE_DATABASE_URL) runs migrations, owns every table, sequence and trigger, and
 *   is the only role that can change the schema;
 * - the **app role** (DATABASE_URL) is what the API, the workers and the CLI connect as: LOGIN, no
 *   DDL, no ownership, DML on the tables it needs and only SELECT + INSERT on the append-only tables.
 *
 * `setUpAppRole` runs at the end of every migration (as the owner): it creates the app role named in
 * DATABASE_URL if it is missing, sets its password from DATABASE_URL, applies the grants, then checks
 * the result and refuses if the app role could still change the schema or rewrite the audit.
 */

/** Tables the app may only append to and read: no UPDATE, DELETE or TRUNCATE (plus the trigger of 0001). */
export const APPEND_ONLY_TABLES = ['audit_events', 'audit_checkpoints', 'audit_retention_log'] as const;

/**
 * Tables only the database itself writes (migration 0009, docs/audit.md "What the database enforces"):
 * the app role may read them, never INSERT, UPDATE or DELETE. Checkpoints go through
 * `audit_checkpoint_append` (which recomputes them from the rows), the retention log through
 * `audit_retention_sweep`, and the retention floor is the owner's setting.
 */
export const DATABASE_WRITTEN_TABLES = ['audit_checkpoints', 'audit_retention_log', 'audit_retention_floor'] as const;

/** The owner's narrow functions the app role may call (each SECURITY DEFINER, search_path pinned, revoked from PUBLIC). */
export const APP_FUNCTIONS = [
  'audit_retention_sweep(uuid)',
  'audit_checkpoint_append(uuid, integer, bigint, bigint, integer, text, text, text, text, text, text, text)',
] as const;

export interface AppRole {
  name: string;
  /** From DATABASE_URL; undefined = leave the role's password as it is (e.g. trust or certificate auth). */
  password: string | undefined;
}

const ROLE_NAME = /^[A-Za-z_][A-Za-z0-9_]{0,62}$/;

/** The app role named by a connection URL (user and password of DATABASE_URL). */
export function appRoleFromUrl(url: string): AppRole {
  const u = new URL(url);
  const name = decodeURIComponent(u.username);
  if (!name) throw new Error('DATABASE_URL must name the app role (postgres://<role>:<password>@host/db)');
  if (!ROLE_NAME.test(name)) throw new Error('DATABASE_URL: the app role name must be [A-Za-z0-9_] (at most 63 characters)');
  const password = u.password ? decodeURIComponent(u.password) : undefined;
  return { name, password };
}

/** The database a connection URL points at. */
export const databaseOf = (url: string): string => decodeURIComponent(new URL(url).pathname.replace(/^\//, ''));

/**
 * A SCRAM-SHA-256 verifier for `password`, in the form Postgres stores (RFC 5803 as used by
 * PQencryptPasswordConn). Setting the role's password with a verifier means the clear password never
 * appears in a statement, so not in the server log or pg_stat_statements either.
 */
export function scramSha256Verifier(password: string, salt: Buffer = randomBytes(16), iterations = 4096): string {
  const salted = pbkdf2Sync(Buffer.from(password, 'utf8'), salt, iterations, 32, 'sha256');
  const clientKey = createHmac('sha256', salted).update('Client Key').digest();
  const storedKey = createHash('sha256').update(clientKey).digest();
  const serverKey = createHmac('sha256', salted).update('Server Key').digest();
  return `SCRAM-SHA-256$${iterations}:${salt.toString('base64')}$${storedKey.toString('base64')}:${serverKey.toString('base64')}`;
}

const VERIFIER = /^SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$[A-Za-z0-9+/=]+:[A-Za-z0-9+/=]+$/;

/** Roles are cluster-wide: another database's migration may create or alter the same role at the same moment. */
const CONCURRENT_ROLE_CHANGE = new Set([
  '42710' /* duplicate_object */,
  '23505' /* unique_violation on pg_authid */,
  'XX000' /* tuple concurrently updated */,
  '40001',
]);

async function retryingRoleChange<T>(fn: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn();
    } catch (e) {
      const code = (e as { code?: string }).code;
      if (attempt >= 8 || !code || !CONCURRENT_ROLE_CHANGE.has(code)) throw e;
      await new Promise((r) => setTimeout(r, 20 * attempt + Math.random() * 50));
    }
  }
}

/**
 * Create or update the app role and its grants. Runs as the owner (the migrating connection), after
 * the migrations, under the migration lock. Idempotent; safe when several databases on one server
 * migrate at once. Throws if the result would let the app role change the schema or the audit.
 */
export async function setUpAppRole(sql: postgres.Sql, role: AppRole): Promise<void> {
  if (!ROLE_NAME.test(role.name)) throw new Error('the app role name must be [A-Za-z0-9_] (at most 63 characters)');
  const id = sql(role.name);
  await retryingRoleChange(async () => {
    const [existing] = await sql<
      {
        is_owner: boolean;
        rolsuper: boolean;
        rolcreaterole: boolean;
        rolcreatedb: boolean;
        rolbypassrls: boolean;
        rolreplication: boolean;
        rolcanlogin: boolean;
      }[]
    >`
      select rolname = current_user as is_owner, rolsuper, rolcreaterole, rolcreatedb, rolbypassrls, rolreplication, rolcanlogin
      from pg_roles where rolname = ${role.name}`;
    if (existing?.is_owner)
      throw new Error(
        `DATABASE_URL and MIGRATE_DATABASE_URL use the same role (${role.name}): the apps must connect as a role of their own without DDL rights (see docs/operations.md, Database roles)`,
      );
    if (existing && (existing.rolsuper || existing.rolcreaterole || existing.rolcreatedb || existing.rolbypassrls || existing.rolreplication))
      throw new Error(
        `the app role ${role.name} (DATABASE_URL) is a superuser or may create roles/databases, bypass RLS or replicate: give the apps a plain LOGIN role`,
      );
    if (!existing) await sql`create role ${id} login nosuperuser nocreatedb nocreaterole noreplication nobypassrls`;
    else if (!existing.rolcanlogin) await sql`alter role ${id} login`;
  });
  if (role.password !== undefined) {
    const verifier = scramSha256Verifier(role.password);
    if (!VERIFIER.test(verifier)) throw new Error('internal: malformed SCRAM verifier');
    // A utility statement takes no parameters: the name matched ROLE_NAME and the verifier is base64
    // and `$:` only, so both are safe as literals.
    await retryingRoleChange(() => sql.unsafe(`alter role "${role.name}" password '${verifier}'`));
  }

  await sql.begin(async (tx) => {
    await tx`grant usage on schema public to ${id}`;
    await tx`revoke create on schema public from ${id}`;
    await tx`grant select, insert, update, delete on all tables in schema public to ${id}`;
    await tx`revoke truncate, references, trigger on all tables in schema public from ${id}`;
    for (const table of APPEND_ONLY_TABLES) {
      if ((await tx`select to_regclass(${`public.${table}`}) as t`)[0]!.t === null) continue;
      await tx`revoke update, delete on ${tx(table)} from ${id}`;
    }
    for (const table of DATABASE_WRITTEN_TABLES) {
      if ((await tx`select to_regclass(${`public.${table}`}) as t`)[0]!.t === null) continue;
      await tx`revoke insert, update, delete on ${tx(table)} from ${id}`;
    }
    // The one way audit rows leave (retention) and the one way checkpoints are written: the owner's functions.
    for (const fn of APP_FUNCTIONS) {
      if ((await tx`select to_regprocedure(${`public.${fn}`}) as f`)[0]!.f !== null) await tx.unsafe(`grant execute on function ${fn} to "${role.name}"`);
    }
    // serial/bigserial ids: nextval needs USAGE; setval (UPDATE) stays with the owner.
    await tx`grant usage on all sequences in schema public to ${id}`;
    await tx`revoke update on all sequences in schema public from ${id}`;
    // Databases created before Postgres 15 let PUBLIC create in schema public.
    const [pub] = await tx<{ c: boolean }[]>`select has_schema_privilege(${role.name}, 'public', 'CREATE') as c`;
    if (pub!.c) await tx`revoke create on schema public from public`;
  });

  const problems = await appRoleProblems(sql, role.name);
  if (problems.length) throw new Error(`the app role ${role.name} has rights it must not have:\n  - ${problems.join('\n  - ')}`);
}

/**
 * What is wrong with `roleName` (default: the connection's own role) as the app role: anything that
 * would let it change the schema or rewrite the audit. Empty = fine. The apps run this at start.
 */
export async function appRoleProblems(sql: postgres.Sql, roleName?: string): Promise<string[]> {
  const [r] = await sql<
    {
      name: string;
      rolsuper: boolean;
      rolcreaterole: boolean;
      rolcreatedb: boolean;
      rolbypassrls: boolean;
      rolreplication: boolean;
      owned: string[] | null;
      create_public: boolean;
      create_db: boolean;
      audit_privs: string[] | null;
      written_privs: string[] | null;
    }[]
  >`
    with r as (select * from pg_roles where rolname = coalesce(${roleName ?? null}::text, current_user))
    select r.rolname as name, r.rolsuper, r.rolcreaterole, r.rolcreatedb, r.rolbypassrls, r.rolreplication,
      (select array_agg(c.relname::text order by c.relname) from pg_class c
        where c.relnamespace = 'public'::regnamespace and pg_has_role(r.oid, c.relowner, 'USAGE')) as owned,
      has_schema_privilege(r.oid, 'public', 'CREATE') as create_public,
      has_database_privilege(r.oid, current_database(), 'CREATE') as create_db,
      (select array_agg(t || ': ' || p) from unnest(${APPEND_ONLY_TABLES as unknown as string[]}::text[]) t,
         unnest(array['UPDATE', 'DELETE', 'TRUNCATE', 'TRIGGER', 'REFERENCES']) p
        where to_regclass('public.' || t) is not null and has_table_privilege(r.oid, ('public.' || t)::regclass, p)) as audit_privs,
      (select array_agg(t || ': ' || p) from unnest(${DATABASE_WRITTEN_TABLES as unknown as string[]}::text[]) t,
         unnest(array['INSERT', 'UPDATE', 'DELETE']) p
        where to_regclass('public.' || t) is not null and has_table_privilege(r.oid, ('public.' || t)::regclass, p)) as written_privs
    from r`;
  if (!r) return [`role ${roleName ?? '(current)'} does not exist`];
  const problems: string[] = [];
  if (r.rolsuper) problems.push('is a superuser');
  if (r.rolcreaterole) problems.push('may create roles (CREATEROLE)');
  if (r.rolcreatedb) problems.push('may create databases (CREATEDB)');
  if (r.rolbypassrls) problems.push('bypasses row-level security (BYPASSRLS)');
  if (r.rolreplication) problems.push('is a replication role');
  if (r.owned?.length)
    problems.push(`owns (or is a member of the owner of) ${r.owned.slice(0, 5).join(', ')}${r.owned.length > 5 ? ', …' : ''}, so it could ALTER or DROP them`);
  if (r.create_public) problems.push('may CREATE in schema public');
  if (r.create_db) problems.push('may CREATE schemas in the database');
  if (r.audit_privs?.length) problems.push(`holds ${r.audit_privs.join(', ')} on an append-only table`);
  if (r.written_privs?.length) problems.push(`holds ${r.written_privs.join(', ')} on a table only the database writes`);
  return problems;
}

/**
 * An app's start-up check of its own connection (DATABASE_URL): in production a role that could alter
 * or erase the audit (superuser, owner, DDL rights) is refused; elsewhere it is a warning.
 */
export async function checkAppRole(sql: postgres.Sql, opts: { production: boolean; warn: (message: string, problems: string[]) => void }): Promise<void> {
  let problems: string[];
  try {
    problems = await appRoleProblems(sql);
  } catch (e) {
    if (opts.production) throw e;
    opts.warn('could not check the role in DATABASE_URL', [(e as Error).message]);
    return;
  }
  if (!problems.length) return;
  const message =
    'the role in DATABASE_URL has rights the apps must not have (it could change the schema or rewrite the audit); run `pnpm migrate` and use the app role it creates';
  if (opts.production) throw new Error(`${message}:\n  - ${problems.join('\n  - ')}`);
  opts.warn(message, problems);
}
