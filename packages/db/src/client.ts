import { drizzle, type PostgresJsDatabase } from 'drizzle-orm/postgres-js';
import postgres from 'postgres';
import * as schema from './schema.js';

export type Database = PostgresJsDatabase<typeof schema>;
/** A database handle or an open transaction: repositories accept either. */
export type Executor = Database | Parameters<Parameters<Database['transaction']>[0]>[0];

export interface DbHandle {
  db: Database;
  /** Raw client, for health checks and the few statements Drizzle does not express. */
  sql: postgres.Sql;
  close(): Promise<void>;
}

export function createDb(url: string, opts: { max?: number; applicationName?: string; connectTimeoutMs?: number } = {}): DbHandle {
  const sql = postgres(url, {
    max: opts.max ?? 10,
    onnotice: () => {},
    // Seconds (fractions work): fail fast when Postgres is unreachable instead of postgres.js's 30 s.
    connect_timeout: (opts.connectTimeoutMs ?? 2_000) / 1000,
    // Reconnect delay after failures (seconds). postgres.js's default grows to 20 s, and a query waits
    // for it before its own connect timeout: in an outage requests hung 11–28 s. Capped at 0.5 s.
    backoff: (retries: number) => Math.min(0.05 * 2 ** retries, 0.5),
    connection: { application_name: opts.applicationName ?? 'mcprt' },
  });
  const db = drizzle(sql, { schema });
  const close = () => {
    // postgres.js refuses a query after end() (CONNECTION_ENDED) but still opens a connection for
    // reserve(): a closed handle must refuse that too (the admission gate records on a reserved one).
    sql.reserve = () => Promise.reject(Object.assign(new Error('write CONNECTION_ENDED: the database handle is closed'), { code: 'CONNECTION_ENDED' }));
    return sql.end({ timeout: 5 });
  };
  return { db, sql, close };
}
