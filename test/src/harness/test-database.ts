import { randomBytes } from 'node:crypto';
import { createDb } from '@mcprt/db';
import { inject } from 'vitest';
import { appUrlOf, TEST_DATABASE_URL } from './test-config.js';
import { sleep } from './wait-for.js';

declare module 'vitest' {
  export interface ProvidedContext {
    /** This run's tag, in the name of every database it clones (the global teardown drops what is left of them). */
    testRun: string;
  }
}

/** A database name from a connection URL, checked to be a plain identifier (it is interpolated into DDL). */
function databaseName(url: string): string {
  const name = decodeURIComponent(new URL(url).pathname.slice(1));
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`unexpected test database name: ${name}`);
  return name;
}

/** The server's maintenance database as the owner: where databases are created and dropped. */
export function serverUrl(url = TEST_DATABASE_URL): string {
  const u = new URL(url);
  u.pathname = '/postgres';
  return u.toString();
}

/**
 * This run's tag: the one vitest's global setup provides, or, for the processes that use the harness
 * outside vitest (the fault suite, the demo, the bench), one of this process's own.
 */
const runTag = (): string => (process.env.VITEST ? inject('testRun') : `p${process.pid}`);

/** The prefix of every database a run clones from the template. */
export const clonePrefix = (run: string): string => `${databaseName(TEST_DATABASE_URL)}_${run}_`;

export interface TestDatabase {
  name: string;
  /** As its owner (a superuser here): test setup, inspection, what the apps must not do. */
  ownerUrl: string;
  /** As the app role: what the API, worker and CLI under test connect as. */
  appUrl: string;
  drop(): Promise<void>;
}

/**
 * A database of the caller's own, cloned from the migrated template (TEST_DATABASE_URL, migrated once
 * by the global setup, which no test connects to): every stack and every file that touches Postgres
 * gets one, so no other file's reconciler, sweeper or checkpointer ever sees its rows.
 */
export async function cloneDatabase(label: string): Promise<TestDatabase> {
  const template = databaseName(TEST_DATABASE_URL);
  const name = `${clonePrefix(runTag())}${label.replace(/[^a-z0-9]/g, '_').slice(0, 24)}_${randomBytes(3).toString('hex')}`;
  const admin = createDb(serverUrl(), { max: 1 });
  try {
    // The template may still be held for a moment by a connection that is closing (e.g. autovacuum).
    for (let attempt = 1; ; attempt++) {
      try {
        await admin.sql.unsafe(`create database "${name}" template "${template}"`);
        break;
      } catch (e) {
        if ((e as { code?: string }).code !== '55006' || attempt === 20) throw e;
        await sleep(100 * attempt);
      }
    }
  } finally {
    await admin.close();
  }
  const u = new URL(TEST_DATABASE_URL);
  u.pathname = `/${name}`;
  const ownerUrl = u.toString();
  return { name, ownerUrl, appUrl: appUrlOf(ownerUrl), drop: () => dropDatabases([name]) };
}

/** Drops databases by name (their connections too). */
export async function dropDatabases(names: string[]): Promise<void> {
  const admin = createDb(serverUrl(), { max: 1 });
  try {
    for (const name of names) await admin.sql.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.close();
  }
}
