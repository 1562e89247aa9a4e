import type { CheckpointerDeps } from '@mcprt/audit';
import { createDb, tenantsRepository, type DbHandle } from '@mcprt/db';
import { generateKey, parseKeyring, type Keyring } from '@mcprt/keyring';
import { afterAll, beforeAll } from 'vitest';
import { namespace } from './test-config.js';
import { cloneDatabase, type TestDatabase } from './test-database.js';

/**
 * A database of its own for the audit checkpointer's tests (registered as the suite's beforeAll and
 * afterAll): the app role's and the owner's handles, a keyring, the checkpointer's dependencies and
 * new tenants. Read the handles inside tests (they exist from beforeAll on).
 */
export function auditTestDb(name: string, opts: { maxRows: number }) {
  let database: TestDatabase | undefined;
  let app: DbHandle | undefined;
  let owner: DbHandle | undefined;
  const keyring: Keyring = parseKeyring(`k1:${generateKey()}`);
  beforeAll(async () => {
    database = await cloneDatabase(name);
    app = createDb(database.appUrl, { max: 6 });
    owner = createDb(database.ownerUrl, { max: 2 });
  });
  afterAll(async () => {
    await app?.close();
    await owner?.close();
    await database?.drop();
  });
  const ready = <T>(h: T | undefined): T => {
    if (!h) throw new Error('auditTestDb: used before beforeAll');
    return h;
  };
  return {
    keyring,
    /** The app role (DATABASE_URL's), as the worker connects. */
    get app() {
      return ready(app);
    },
    get owner() {
      return ready(owner);
    },
    /** The app role's URL (to connect through a proxy). */
    get appUrl() {
      return ready(database).appUrl;
    },
    deps: (extra: Partial<CheckpointerDeps> = {}): CheckpointerDeps => ({
      sql: ready(app).sql,
      keyring,
      maxRows: opts.maxRows,
      settleMs: 5_000,
      log: { info: () => undefined, warn: () => undefined, error: () => undefined },
      ...extra,
    }),
    newTenant: async (): Promise<string> =>
      (
        await tenantsRepository(ready(app).db).create({
          slug: namespace(name).slug,
          displayName: 't',
          idpIssuer: `https://${name}.example`,
          enabledTools: ['echo'],
        })
      ).id,
  };
}
