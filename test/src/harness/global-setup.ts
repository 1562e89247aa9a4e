import { ensureDatabase, runMigrations } from '@mcprt/db';
import { TEST_DATABASE_URL } from './test-config.js';

/** Once per test run: the test database exists and is migrated (the same migrations production runs). */
export default async function setup(): Promise<void> {
  await ensureDatabase(TEST_DATABASE_URL);
  await runMigrations(TEST_DATABASE_URL);
}
