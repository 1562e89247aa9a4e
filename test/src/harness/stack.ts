import { PENDING_SQL, withCallStatements, type CallsDb } from '@mcprt/calls';
import { startApi, type RunningApi } from '@mcprt/api';
import { credentialVault } from '@mcprt/providers';
import type { Config } from '@mcprt/config';
import { parseKeyring } from '@mcprt/keyring';
import { createDb, ensureDatabase, runMigrations, tenantsRepository, type Tenant, type User } from '@mcprt/db';
import { forTenant } from '@mcprt/calls';
import { DEFAULT_DEV_ACCOUNTS, startDevIdp, type DevIdp } from '@mcprt/dev-idp';
import type { Logger } from '@mcprt/observability';
import { startWorker, type RunningWorker } from '@mcprt/worker';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Redis } from 'ioredis';
import { startScavioDouble } from '../../doubles/scavio.js';
import { freePort } from './free-port.js';
import { appUrlOf, configFrom, namespace, TEST_DATABASE_URL, testEnv } from './test-config.js';

export const SCAVIO_KEY = 'sk_test_double_key';
export const ALL_SCOPES = 'tools:whoami tools:web_search tools:echo';

/**
 * Which official MCP client a test drives, and so which protocol era it speaks:
 * - `v2` — `@modelcontextprotocol/client` with version negotiation `auto`: probes with
 *   `server/discover` and speaks 2026-07-28 (per-request `_meta` envelope, standard headers);
 * - `v2-legacy` — the same client with its default negotiation: the 2025 `initialize` handshake;
 * - `v1` — `@modelcontextprotocol/sdk` 1.32 (what most deployed clients are built on): 2025-11-25.
 */
export type ClientKind = 'v2' | 'v2-legacy' | 'v1';
export const CLIENT_KINDS: readonly ClientKind[] = ['v2', 'v2-legacy', 'v1'];

/** The part of either SDK client the tests use, with one call shape. */
export interface McpTestClient {
  kind: ClientKind;
  /** The protocol revision the connection speaks. */
  protocolVersion: string | undefined;
  listTools(): Promise<{
    tools: {
      name: string;
      inputSchema: Record<string, unknown> & { required?: string[] };
      outputSchema?: Record<string, unknown> & { properties?: unknown };
    }[];
  }>;
  callTool(
    params: { name: string; arguments?: Record<string, unknown>; _meta?: Record<string, unknown> },
    opts?: { timeout?: number; signal?: AbortSignal },
  ): Promise<Record<string, unknown>>;
  close(): Promise<void>;
}

/** Connect one of the official SDK clients with a bearer token. */
export async function connectClient(kind: ClientKind, url: string, token: string, opts: { fetch?: typeof fetch } = {}): Promise<McpTestClient> {
  const requestInit = { headers: { Authorization: `Bearer ${token}` } };
  const transportOpts = { requestInit, ...(opts.fetch ? { fetch: opts.fetch } : {}) };
  if (kind === 'v1') {
    const client = new ClientV1({ name: 'mcprt-test-v1', version: '1.0.0' });
    const transport = new TransportV1(new URL(url), transportOpts);
    await client.connect(transport);
    return {
      kind,
      protocolVersion: transport.protocolVersion,
      listTools: () => client.listTools() as ReturnType<McpTestClient['listTools']>,
      callTool: (p, o) => client.callTool(p, undefined, o) as Promise<Record<string, unknown>>,
      close: () => client.close(),
    };
  }
  const client = new ClientV2({ name: 'mcprt-test-v2', version: '1.0.0' }, kind === 'v2' ? { versionNegotiation: { mode: 'auto' } } : {});
  const transport = new TransportV2(new URL(url), transportOpts);
  await client.connect(transport);
  return {
    kind,
    protocolVersion: client.getNegotiatedProtocolVersion(),
    listTools: () => client.listTools() as ReturnType<McpTestClient['listTools']>,
    callTool: (p, o) => client.callTool(p, o) as Promise<Record<string, unknown>>,
    close: () => client.close(),
  };
}

export interface StackOptions {
  label: string;
  /** `inproc` runs the worker in this process; `none` leaves it to the test (e.g. a child process). */
  worker?: 'inproc' | 'none';
  /** `inproc` runs the API in this process; `none` leaves it to the caller (the benchmark spawns it). */
  api?: 'inproc' | 'none';
  env?: Record<string, string>;
  enabledTools?: string[];
  /** Where the API (only) reaches Redis, e.g. through a proxy a test can take down. */
  apiRedisUrl?: string;
  /** Logger for the API and in-process worker (default: silent per LOG_LEVEL). */
  log?: Logger;
  /**
   * A database of this stack's own (created, migrated, dropped at close): no other test file's
   * reconciler can see, and re-enqueue into its own queue, calls that wait in this stack on purpose.
   */
  ownDatabase?: boolean;
  /** More dev IdP accounts (subjects) beside alice, bob and carol. */
  extraSubjects?: string[];
  /** The dev IdP issues single-use (rotating) refresh tokens. */
  rotateRefreshTokens?: boolean;
}

/**
 * A whole deployment for one test file: the dev IdP (oidc-provider), the Scavio double, the API on a
 * real port, optionally a worker, a fresh tenant and queue prefix. Real Postgres, real Redis.
 */
export async function startStack(opts: StackOptions) {
  const ns = namespace(opts.label);
  // Every request the IdP receives (`GET /jwks`, …): tests check what a request cost at the IdP.
  const idpRequests: string[] = [];
  const idp: DevIdp = await startDevIdp({
    port: 0,
    accounts: [
      ...DEFAULT_DEV_ACCOUNTS,
      { sub: 'carol', email: 'carol@example.test', name: 'Carol Example' },
      ...(opts.extraSubjects ?? []).map((sub) => ({ sub, email: `${sub}@example.test`, name: sub })),
    ],
    onRequest: (req) => idpRequests.push(`${req.method} ${(req.url ?? '/').split('?', 1)[0]}`),
    ...(opts.rotateRefreshTokens ? { rotateRefreshTokens: true } : {}),
  });
  const scavio = await startScavioDouble({ apiKey: SCAVIO_KEY });
  const port = await freePort();
  let ownDbUrl: string | undefined;
  if (opts.ownDatabase) {
    const u = new URL(TEST_DATABASE_URL);
    u.pathname = `/${decodeURIComponent(u.pathname.slice(1))}_${ns.slug.replace(/[^a-z0-9]/g, '_')}`;
    ownDbUrl = u.toString();
    await ensureDatabase(ownDbUrl);
    await runMigrations(ownDbUrl, { appUrl: appUrlOf(ownDbUrl) });
  }
  const env = testEnv({
    port,
    queuePrefix: ns.queuePrefix,
    extra: { SCAVIO_API_KEY: SCAVIO_KEY, SCAVIO_BASE_URL: scavio.url, ...(ownDbUrl ? { DATABASE_URL: appUrlOf(ownDbUrl) } : {}), ...opts.env },
  });
  const config: Config = configFrom(env);
  // Setup and inspection through the same app role as the API and worker (DML only); a test that
  // needs the owner opens TEST_DATABASE_URL itself.
  const db: CallsDb = withCallStatements(createDb(config.DATABASE_URL, { max: 3 }));
  const tenant: Tenant = await tenantsRepository(db.db).create({
    slug: ns.slug,
    displayName: `Test ${ns.slug}`,
    idpIssuer: idp.issuer,
    enabledTools: opts.enabledTools ?? ['whoami', 'web_search', 'echo'],
    // The stack's tokens come from its IdP directly (issue 2's mode); built-in tenants ask for it.
    authMode: 'external',
  });
  const api: RunningApi | undefined =
    opts.api === 'none'
      ? undefined
      : await startApi(opts.apiRedisUrl ? { ...config, REDIS_URL: opts.apiRedisUrl } : config, {
          migrate: false,
          ...(opts.log ? { log: opts.log } : {}),
        });
  let worker: RunningWorker | undefined =
    opts.worker === 'none' ? undefined : await startWorker(config, { migrate: false, ...(opts.log ? { log: opts.log } : {}) });
  const vault = credentialVault(parseKeyring(config.SEAL_KEYS));
  const scope = forTenant(db.db, tenant.id);
  const mcpUrl = `${config.PUBLIC_URL}/t/${tenant.slug}/mcp`;
  const clients: McpTestClient[] = [];

  const stack = {
    ns,
    env,
    config,
    db,
    idp,
    idpRequests,
    scavio,
    tenant,
    scope,
    api,
    vault,
    mcpUrl,
    get worker() {
      return worker;
    },
    async startWorker() {
      worker = await startWorker(config, { migrate: false });
      return worker;
    },
    async stopWorker() {
      await worker?.stop();
      worker = undefined;
    },
    /** An MCP access token from the tenant's IdP; defaults: audience = this tenant's MCP URL, all tool scopes. */
    token(sub: string, o: { audience?: string; extraAudiences?: string[]; scope?: string; ttlSeconds?: number } = {}) {
      return idp.mintAccessToken({
        sub,
        audience: o.audience ?? mcpUrl,
        scope: o.scope ?? ALL_SCOPES,
        ...(o.ttlSeconds ? { ttlSeconds: o.ttlSeconds } : {}),
        ...(o.extraAudiences ? { extraAudiences: o.extraAudiences } : {}),
      });
    },
    /**
     * What the sign-in flow (next issue) will do: the user exists and their upstream IdP token is in
     * the credential vault, sealed. Here the IdP mints a real token its userinfo endpoint accepts.
     */
    async connectUser(sub: string): Promise<{ user: User; upstreamAccessToken: string }> {
      const user = await scope.users.upsert({ issuer: idp.issuer, subject: sub });
      const up = await idp.mintUpstreamToken({ sub, scope: 'openid email profile' });
      await vault.store(scope, user.id, 'idp', {
        accessToken: up.accessToken,
        refreshToken: up.refreshToken ?? null,
        expiresAt: up.expiresAt,
        scopes: up.scope.split(' '),
      });
      return { user, upstreamAccessToken: up.accessToken };
    },
    /**
     * A user with a Google or GitHub credential in the vault, sealed, as the sign-in flow (another
     * issue) stores it: the token is one the test's double knows (`double.addUser(token, …)`).
     */
    async connectProvider(
      sub: string,
      provider: 'google' | 'github',
      c: { accessToken: string; scopes: string[]; refreshToken?: string | null; expiresAt?: Date | null },
    ): Promise<User> {
      const user = await scope.users.upsert({ issuer: idp.issuer, subject: sub });
      await vault.store(scope, user.id, provider, {
        accessToken: c.accessToken,
        refreshToken: c.refreshToken ?? null,
        expiresAt: c.expiresAt ?? null,
        scopes: c.scopes,
      });
      return user;
    },
    /** An official MCP SDK client connected with a bearer token (default: v2 speaking 2026-07-28). */
    async client(token: string, opts: { kind?: ClientKind; url?: string; fetch?: typeof fetch } = {}): Promise<McpTestClient> {
      const client = await connectClient(opts.kind ?? 'v2', opts.url ?? mcpUrl, token, opts.fetch ? { fetch: opts.fetch } : {});
      clients.push(client);
      return client;
    },
    /** Raw JSON-RPC POST, for status codes and headers the SDK client hides. */
    async post(body: unknown, headers: Record<string, string> = {}, url = mcpUrl) {
      return fetch(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...headers },
        body: typeof body === 'string' ? body : JSON.stringify(body),
      });
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await worker?.stop().catch(() => undefined);
      await api?.stop().catch(() => undefined);
      await idp.close().catch(() => undefined);
      await scavio.close().catch(() => undefined);
      // Leave nothing behind in Redis: this namespace's queue keys.
      const redis = new Redis(config.REDIS_URL);
      let cursor = '0';
      do {
        const [next, keys] = await redis.scan(cursor, 'MATCH', `${config.QUEUE_PREFIX}:*`, 'COUNT', 500);
        cursor = next;
        if (keys.length) await redis.del(...keys);
      } while (cursor !== '0');
      await redis.quit();
      await db.close();
      if (ownDbUrl) {
        const u = new URL(ownDbUrl);
        const name = decodeURIComponent(u.pathname.slice(1));
        u.pathname = '/postgres';
        const admin = createDb(u.toString(), { max: 1 });
        await admin.sql.unsafe(`drop database if exists "${name}" with (force)`).catch(() => undefined);
        await admin.close();
      }
    },
  };
  return stack;
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

/**
 * Every API's reconciler re-enqueues *any* tenant's call left `queued` past RECONCILE_AFTER_MS (one
 * database is shared by all test files), into its own queue: another file's worker then runs it with
 * the wrong keyring or doubles. Files whose calls may wait in queue on purpose (leases, 429 pauses)
 * and that do not test the reconciler switch theirs off with this, and cancel what they leave queued.
 */
export const NO_FOREIGN_RECONCILE = { RECONCILE_AFTER_MS: '600000' } as const;

/** Calls of this stack's tenant still waiting (e.g. paused by a 429) are cancelled, so no other file's reconciler picks them up. */
export async function cancelLeftovers(s: Stack): Promise<void> {
  await s.db.sql`update tool_calls set status = 'cancelled', finished_at = now() where tenant_id = ${s.tenant.id} and ${s.db.sql.unsafe(PENDING_SQL)}`;
}

export const initializeRequest = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
