import { randomBytes } from 'node:crypto';
import { createDb, ensureDatabase, runMigrations } from '@mcprt/db';
import type { TestProject } from 'vitest/node';
import { TEST_APP_DATABASE_URL, TEST_DATABASE_URL } from './test-config.js';
import { clonePrefix, dropDatabases, serverUrl } from './test-database.js';

/**
 * Once per test run: the template database exists and is migrated as its owner (the same migrations
 * production runs), and the app role the apps under test connect as exists with its grants. Tests
 * never use it directly: each clones it (test-database.ts). At the end, the clones a crashed file
 * left behind are dropped.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  await ensureDatabase(TEST_DATABASE_URL);
  await runMigrations(TEST_DATABASE_URL, { appUrl: TEST_APP_DATABASE_URL });
  const run = randomBytes(3).toString('hex');
  project.provide('testRun', run);
  return async () => {
    const admin = createDb(serverUrl(), { max: 1 });
    let names: string[];
    try {
      const like = `${clonePrefix(run).replace(/_/g, '\\_')}%`;
      names = (await admin.sql<{ datname: string }[]>`select datname from pg_database where datname like ${like}`).map((r) => r.datname);
    } finally {
      await admin.close();
    }
    await dropDatabases(names);
  };
}
