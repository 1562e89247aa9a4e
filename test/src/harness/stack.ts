import { withCallStatements, type CallsDb } from '@mcprt/calls';
import { startApi, type RunningApi } from '@mcprt/api';
import { credentialVault } from '@mcprt/providers';
import type { Config } from '@mcprt/config';
import { parseKeyring } from '@mcprt/keyring';
import { tenantSetIdp } from '@mcprt/cli';
import { createDb, oidcStoreRepository, tenantsRepository, type Tenant, type User } from '@mcprt/db';
import { forTenant } from '@mcprt/calls';
import { DEFAULT_DEV_ACCOUNTS, startDevIdp, type DevIdp } from '@mcprt/dev-idp';
import { loadSigningKeys, mintBuiltinAccessToken } from '@mcprt/identity';
import type { Logger } from '@mcprt/observability';
import { startWorker, type RunningWorker } from '@mcprt/worker';
import { Client as ClientV2, StreamableHTTPClientTransport as TransportV2 } from '@modelcontextprotocol/client';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { startScavioDouble } from '../../doubles/scavio.js';
import { freePort } from './free-port.js';
import { deleteKeys, openRedis, scanKeys } from './redis.js';
import { redisValuesUnder } from './secret-scan.js';
import { configFrom, namespace, testEnv } from './test-config.js';
import { cloneDatabase, type TestDatabase } from './test-database.js';

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

/** How the tenant's users get access tokens: its own authorization server (what users get by default) or an external IdP's tokens. */
export type AuthMode = 'builtin' | 'external';

export interface StackOptions {
  label: string;
  /**
   * `builtin` (default, what `tenant create` gives users): the tenant is its own authorization server
   * and signs users in at the stack's dev IdP. `external`: the dev IdP's own tokens are the MCP access
   * tokens (for tests of that mode: audiences, the IdP's JWKS and outages).
   */
  auth?: AuthMode;
  /** `inproc` runs the worker in this process; `none` leaves it to the test (e.g. a child process). */
  worker?: 'inproc' | 'none';
  /** `inproc` runs the API in this process; `none` leaves it to the caller (the benchmark spawns it). */
  api?: 'inproc' | 'none';
  env?: Record<string, string>;
  enabledTools?: string[];
  /** What tools/list shows a caller (the tenant setting; default `allowed`). */
  toolListing?: 'allowed' | 'all_with_hints';
  /** The tenant's approval rules (default none). */
  approvalRules?: { tool: string; approver: 'user' | 'tenant'; when?: { argument: string; equals: string | number | boolean } }[];
  /** Where the API (only) reaches Redis, e.g. through a proxy a test can take down. */
  apiRedisUrl?: string;
  /** Logger for the API and in-process worker (default: silent per LOG_LEVEL). */
  log?: Logger;
  /** The stack's database, when the test made it itself (e.g. to reach it through a proxy); default: a fresh clone. */
  database?: TestDatabase;
  /** More dev IdP accounts (subjects) beside alice, bob and carol. */
  extraSubjects?: string[];
  /** The dev IdP issues single-use (rotating) refresh tokens. */
  rotateRefreshTokens?: boolean;
}

export interface TokenOptions {
  audience?: string;
  /** External mode only: more audiences beside `audience`. */
  extraAudiences?: string[];
  scope?: string;
  ttlSeconds?: number;
  /** Built-in mode only: the OAuth client the token was issued to (default: the harness's own). */
  clientId?: string;
}

/** The client id the harness's built-in tokens carry (a registered app's id, for the call history). */
const HARNESS_CLIENT_ID = 'mcprt-test-harness';

/**
 * A whole deployment for one test: the dev IdP (oidc-provider), the Scavio double, the API on a real
 * port, optionally a worker, a tenant, and a database and queue prefix of its own (so nothing another
 * test does is seen here). Real Postgres, real Redis.
 */
export async function startStack(opts: StackOptions) {
  const ns = namespace(opts.label);
  const authMode: AuthMode = opts.auth ?? 'builtin';
  const port = await freePort();
  const publicUrl = `http://127.0.0.1:${port}`;
  const loginSecret = `login-secret-${ns.queuePrefix}`;
  // Every request the IdP receives (`GET /jwks`, …): tests check what a request cost at the IdP.
  const idpRequests: string[] = [];
  const idp: DevIdp = await startDevIdp({
    port: 0,
    accounts: [
      ...DEFAULT_DEV_ACCOUNTS,
      { sub: 'carol', email: 'carol@example.test', name: 'Carol Example' },
      ...(opts.extraSubjects ?? []).map((sub) => ({ sub, email: `${sub}@example.test`, name: sub })),
    ],
    // The tenant's authorization server signs users in here (built-in mode), as the operator set it up.
    loginClients: [
      {
        clientId: 'mcprt-as',
        clientSecret: loginSecret,
        redirectUris: [`${publicUrl}/t/${ns.slug}/login/callback`, `${publicUrl}/t/${ns.slug}/connect/idp/callback`],
      },
    ],
    onRequest: (req) => idpRequests.push(`${req.method} ${(req.url ?? '/').split('?', 1)[0]}`),
    ...(opts.rotateRefreshTokens ? { rotateRefreshTokens: true } : {}),
  });
  const scavio = await startScavioDouble({ apiKey: SCAVIO_KEY });
  const database = opts.database ?? (await cloneDatabase(opts.label));
  const env = testEnv({
    port,
    queuePrefix: ns.queuePrefix,
    databaseUrl: database.appUrl,
    extra: { SCAVIO_API_KEY: SCAVIO_KEY, SCAVIO_BASE_URL: scavio.url, ...opts.env },
  });
  const config: Config = configFrom(env);
  // Setup and inspection through the same app role as the API and worker (DML only); a test that
  // needs the owner opens `database.ownerUrl`.
  const db: CallsDb = withCallStatements(createDb(config.DATABASE_URL, { max: 3 }));
  const tenants = tenantsRepository(db.db);
  const created = await tenants.create({
    slug: ns.slug,
    displayName: `Test ${ns.slug}`,
    idpIssuer: idp.issuer,
    enabledTools: opts.enabledTools ?? ['whoami', 'web_search', 'echo'],
    authMode: 'external',
    ...(opts.toolListing ? { toolListing: opts.toolListing } : {}),
    ...(opts.approvalRules ? { approvalRules: opts.approvalRules } : {}),
  });
  if (authMode === 'builtin') {
    // The operator's way: `tenant set-idp --auth builtin`.
    await tenantSetIdp(
      { db: db.db, config, out: () => undefined },
      { slug: ns.slug, clientId: 'mcprt-as', clientSecret: loginSecret, scopes: 'openid email profile offline_access', auth: 'builtin' },
    );
  }
  const tenant: Tenant = (await tenants.byId(created.id))!;
  const api: RunningApi | undefined =
    opts.api === 'none'
      ? undefined
      : await startApi(opts.apiRedisUrl ? { ...config, REDIS_URL: opts.apiRedisUrl } : config, {
          migrate: false,
          ...(opts.log ? { log: opts.log } : {}),
        });
  let worker: RunningWorker | undefined =
    opts.worker === 'none' ? undefined : await startWorker(config, { migrate: false, ...(opts.log ? { log: opts.log } : {}) });
  const keyring = parseKeyring(config.SEAL_KEYS);
  const vault = credentialVault(keyring);
  const scope = forTenant(db.db, tenant.id);
  const mcpUrl = `${config.PUBLIC_URL}/t/${tenant.slug}/mcp`;
  /** Who issues the tenant's MCP access tokens: its own authorization server, or the IdP. */
  const issuer = authMode === 'builtin' ? `${config.PUBLIC_URL}/t/${tenant.slug}` : idp.issuer;
  const clients: McpTestClient[] = [];
  const cleanups: (() => Promise<unknown>)[] = [];
  const userOf = (sub: string) => scope.users.upsert({ issuer: idp.issuer, subject: sub });

  const stack = {
    ns,
    env,
    config,
    database,
    db,
    idp,
    idpRequests,
    scavio,
    tenant,
    slug: tenant.slug,
    authMode,
    issuer,
    scope,
    api,
    keyring,
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
    /**
     * An MCP access token for `sub`, as the tenant's issuer makes it; defaults: audience = this
     * tenant's MCP URL, all tool scopes. Built-in: the user exists and the token is signed with the
     * tenant's key, as its authorization server signs one after sign-in (`signIn` and `userToken` in
     * sign-in.ts run the whole flow). External: the IdP mints it.
     */
    async token(sub: string, o: TokenOptions = {}): Promise<string> {
      const audience = o.audience ?? mcpUrl;
      const scopes = o.scope ?? ALL_SCOPES;
      if (authMode === 'external') {
        return idp.mintAccessToken({
          sub,
          audience,
          scope: scopes,
          ...(o.ttlSeconds ? { ttlSeconds: o.ttlSeconds } : {}),
          ...(o.extraAudiences ? { extraAudiences: o.extraAudiences } : {}),
        });
      }
      if (o.extraAudiences) throw new Error('extraAudiences: an external-mode option (the built-in server issues one audience)');
      const user = await userOf(sub);
      const keys = await loadSigningKeys(tenant.id, oidcStoreRepository(db.db, tenant.id), keyring);
      return mintBuiltinAccessToken(keys, {
        issuer,
        audience,
        subject: user.id,
        scope: scopes,
        clientId: o.clientId ?? HARNESS_CLIENT_ID,
        ...(o.ttlSeconds ? { ttlSeconds: o.ttlSeconds } : {}),
      });
    },
    /** The user exists and their upstream IdP token is in the credential vault, sealed, as sign-in stores it. */
    async connectUser(sub: string): Promise<{ user: User; upstreamAccessToken: string }> {
      const user = await userOf(sub);
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
     * A user with a Google or GitHub credential in the vault, sealed, as the connect flow stores it:
     * the token is one the test's double knows (`double.addUser(token, …)`).
     */
    async connectProvider(
      sub: string,
      provider: 'google' | 'github',
      c: { accessToken: string; scopes: string[]; refreshToken?: string | null; expiresAt?: Date | null },
    ): Promise<User> {
      const user = await userOf(sub);
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
    /** Every value under this stack's queue prefix in Redis, as text (for secret scans). */
    async redisValues(): Promise<string[]> {
      return redisValuesUnder(config, config.QUEUE_PREFIX);
    },
    /** Something to stop when the stack closes (e.g. another tenant's IdP). */
    addCleanup(fn: () => Promise<unknown>): void {
      cleanups.push(fn);
    },
    async close() {
      await Promise.allSettled(clients.map((c) => c.close()));
      await Promise.allSettled(cleanups.map((fn) => fn()));
      await worker?.stop().catch(() => undefined);
      await api?.stop().catch(() => undefined);
      await idp.close().catch(() => undefined);
      await scavio.close().catch(() => undefined);
      // Leave nothing behind in Redis: this namespace's queue keys.
      const redis = openRedis(config);
      await deleteKeys(redis, await scanKeys(redis, `${config.QUEUE_PREFIX}:*`));
      await redis.quit();
      await db.close();
      if (!opts.database) await database.drop().catch(() => undefined);
    },
  };
  return stack;
}

export type Stack = Awaited<ReturnType<typeof startStack>>;

export const initializeRequest = {
  jsonrpc: '2.0',
  id: 1,
  method: 'initialize',
  params: { protocolVersion: '2025-06-18', capabilities: {}, clientInfo: { name: 'raw', version: '1' } },
};
