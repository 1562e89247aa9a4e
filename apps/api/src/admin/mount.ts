import type { ApprovalDeps, CancelDeps, Producer } from '@mcprt/calls';
import type { DbHandle } from '@mcprt/db';
import type { Keyring } from '@mcprt/keyring';
import type { RedisClient, RedisKeys } from '@mcprt/redis';
import type { ToolRegistry } from '@mcprt/tools';
import type { BrowserCookies } from '../auth-server/browser-session.js';
import type { AuthServers } from '../auth-server/provider.js';
import type { Chains, Routes } from '../http/tenant-router.js';
import { mountApprovalsPage } from './approvals-page.js';
import { mountAuditPage } from './audit-page.js';
import { mountCallsPage } from './calls-page.js';
import { mountClientsPage } from './clients-page.js';
import { mountKeysPage } from './keys-page.js';
import { mountLogin } from './login.js';
import { mountQueuePage } from './queue-page.js';
import type { OperatorSessions } from './session.js';
import { mountSettingsPage } from './settings-page.js';
import { mountUsersPage } from './users-page.js';

export interface ConsoleDeps {
  db: DbHandle;
  keyring: Keyring;
  registry: ToolRegistry;
  servers: Pick<AuthServers, 'get'>;
  sessions: OperatorSessions;
  cookies: BrowserCookies;
  /** The call engine: cancel (calls page) and approval decisions (approvals page). */
  engine: CancelDeps & ApprovalDeps;
  producer: Pick<Producer, 'queue'>;
  redis: RedisClient;
  keys: Pick<RedisKeys, 'consoleSignInRate'>;
}

/**
 * The tenant's admin console, `/t/{slug}/admin/…`: server-rendered pages on the `console` (sign-in)
 * and `operator` chains (tenant-router.ts), one module per page. docs/operations.md "Admin console".
 */
export function mountConsole(routes: Routes, chains: Chains, d: ConsoleDeps): void {
  const sql = d.db.sql;
  mountLogin(routes, chains, { db: d.db, sessions: d.sessions, cookies: d.cookies, redis: d.redis, keys: d.keys });
  routes.get('/t/:tenant/admin', chains.operator, (ctx) => {
    ctx.status = 303;
    ctx.redirect(`/t/${ctx.state.tenant!.slug}/admin/calls`);
  });
  mountCallsPage(routes, chains, { sql, engine: d.engine });
  mountApprovalsPage(routes, chains, { sql, registry: d.registry, engine: d.engine });
  mountAuditPage(routes, chains, { sql, keyring: d.keyring });
  mountUsersPage(routes, chains, { keyring: d.keyring });
  mountClientsPage(routes, chains, { db: d.db.db, keyring: d.keyring, servers: d.servers });
  mountSettingsPage(routes, chains, { db: d.db.db, registry: d.registry });
  mountKeysPage(routes, chains, { db: d.db.db });
  mountQueuePage(routes, chains, { sql, producer: d.producer, redis: d.redis });
}
