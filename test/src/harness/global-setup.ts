import { ensureDatabase, runMigrations } from '@mcprt/db';
import { TEST_APP_DATABASE_URL, TEST_DATABASE_URL } from './test-config.js';

/**
 * Once per test run: the test database exists and is migrated as its owner (the same migrations
 * production runs), and the app role the apps under test connect as exists with its grants.
 */
export default async function setup(): Promise<void> {
  await ensureDatabase(TEST_DATABASE_URL);
  await runMigrations(TEST_DATABASE_URL, { appUrl: TEST_APP_DATABASE_URL });
}
