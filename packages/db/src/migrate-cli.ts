import { appRoleFromUrl, databaseOf } from './roles.js';
import { ensureDatabase, runMigrations } from './migrate.js';

// `pnpm migrate` (and the migrate job): the one command that creates the database if needed, applies
// migrations as the owner role (MIGRATE_DATABASE_URL) and creates/updates the app role the API and
// workers connect as (DATABASE_URL: its user and password). Prints no credentials.
const ownerUrl = process.env.MIGRATE_DATABASE_URL || 'postgres://postgres@127.0.0.1:5432/mcprt';
const appUrl = process.env.DATABASE_URL || 'postgres://mcprt_app@127.0.0.1:5432/mcprt';
try {
  await ensureDatabase(ownerUrl);
  await runMigrations(ownerUrl, { appUrl });
  console.log(
    `migrations applied to ${databaseOf(ownerUrl)} as ${decodeURIComponent(new URL(ownerUrl).username) || '(default user)'}; app role ${appRoleFromUrl(appUrl).name}: LOGIN, DML only, audit append-only`,
  );
} catch (e) {
  console.error(`migrate failed: ${(e as Error).message}`);
  process.exit(1);
}
