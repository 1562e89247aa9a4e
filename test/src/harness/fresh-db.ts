/**
 * `.ci/run` starts from nothing: drop the test database (the template) and the databases test runs
 * cloned from it (`<name>_<run>_…`, test-database.ts), so no state from a previous run on this machine
 * (rows, a migration from another branch) can change this run. The global test setup re-creates and
 * migrates the template. Run: `npx tsx test/src/harness/fresh-db.ts`.
 */
import { createDb } from '@mcprt/db';
import { TEST_DATABASE_URL } from './test-config.js';

const url = new URL(TEST_DATABASE_URL);
const name = decodeURIComponent(url.pathname.slice(1));
if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected test database name: ${name}`);
url.pathname = '/postgres';
const admin = createDb(url.toString(), { max: 1 });
try {
  const rows = await admin.sql<{ datname: string }[]>`select datname from pg_database where datname = ${name} or datname like ${`${name}\\_%`}`;
  for (const { datname } of rows) await admin.sql.unsafe(`drop database if exists "${datname}" with (force)`);
  console.log(`fresh test database: dropped ${rows.length} database(s) (${name} and its clones)`);
} finally {
  await admin.close();
}
