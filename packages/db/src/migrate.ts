import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/postgres-js';
import { migrate } from 'drizzle-orm/postgres-js/migrator';
import postgres from 'postgres';
import { appRoleFromUrl, databaseOf, setUpAppRole } from './roles.js';

export const migrationsFolder = fileURLToPath(new URL('../migrations', import.meta.url));

/** Arbitrary constant: the advisory lock id that serialises concurrent migrators (api + workers start together). */
const MIGRATION_LOCK = 72_531_001;

/**
 * Apply pending migrations as the owner role (`url` = MIGRATE_DATABASE_URL), then, with `appUrl`
 * (= DATABASE_URL), create or update the app role it names and its grants (roles.ts). Idempotent and
 * safe to call from every process at start-up: one connection holds a Postgres advisory lock while
 * Drizzle applies what its journal lacks and the grants are re-applied.
 */
export async function runMigrations(url: string, opts: { appUrl?: string } = {}): Promise<void> {
  const role = opts.appUrl ? appRoleFromUrl(opts.appUrl) : undefined;
  if (opts.appUrl && databaseOf(opts.appUrl) !== databaseOf(url))
    throw new Error(`DATABASE_URL (${databaseOf(opts.appUrl)}) and MIGRATE_DATABASE_URL (${databaseOf(url)}) name different databases`);
  const sql = postgres(url, { max: 1, onnotice: () => {} });
  try {
    await sql`select pg_advisory_lock(${MIGRATION_LOCK})`;
    await migrate(drizzle(sql), { migrationsFolder });
    if (role) await setUpAppRole(sql, role);
    await sql`select pg_advisory_unlock(${MIGRATION_LOCK})`;
  } finally {
    await sql.end({ timeout: 5 });
  }
}

/** Create the database named in `url` if it does not exist (connects to `postgres` to do so). */
export async function ensureDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.replace(/^\//, ''));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error(`database name must be [A-Za-z0-9_]+`);
  u.pathname = '/postgres';
  const sql = postgres(u.toString(), { max: 1, onnotice: () => {} });
  try {
    const rows = await sql`select 1 from pg_database where datname = ${name}`;
    if (rows.length === 0)
      await sql.unsafe(`create database "${name}"`).catch((e: { code?: string }) => {
        if (e.code !== '42P04') throw e; // created concurrently by another process
      });
  } finally {
    await sql.end({ timeout: 5 });
  }
}
