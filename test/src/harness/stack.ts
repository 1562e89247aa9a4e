import { startApi, type RunningApi } from '@mcprt/api';
import { credentialVault } from '@mcprt/auth';
import type { Config } from '@mcprt/config';
import { parseKeyring } from '@mcprt/crypto';
import { createDb, forTenant, tenantsRepository, type DbHandle, type Tenant, type User } from '@mcprt/db';
import { DEFAULT_DEV_ACCOUNTS, startDevIdp, type DevIdp } from '@mcprt/dev-idp';
import type { Logger } from '@mcprt/observability';
import { startWorker, type RunningWorker } from '@mcprt/worker';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { Redis } from 'ioredis';
import { startScavioDouble } from '../../doubles/scavio.js';
import { freePort } from './free-port.js';
import { configFrom, namespace, testEnv } from './test-config.js';

export const SCAVIO_KEY = 'sk_test_double_key';
export const ALL_SCOPES = 'tools:whoami tools:web_search tools:echo';

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
}

/**
 * A whole deployment for one test file: the dev IdP (oidc-provider), the Scavio double, the API on a
 * real port, optionally a worker, a fresh tenant and queue prefix. Real Postgres, real Redis.
 */
export async function startStack(opts: StackOptions) {
  const ns = namespace(opts.label);
  const idp: DevIdp = await startDevIdp({ port: 0, accounts: [...DEFAULT_DEV_ACCOUNTS, { sub: 'carol', email: 'carol@example.test', name: 'Carol Example' }] });
  const scavio = await startScavioDouble({ apiKey: SCAVIO_KEY });
  const port = await freePort();
  const env = testEnv({ port, queuePrefix: ns.queuePrefix, extra: { SCAVIO_API_KEY: SCAVIO_KEY, SCAVIO_BASE_URL: scavio.url, ...opts.env } });
  const config: Config = configFrom(env);
  const db: DbHandle = createDb(config.DATABASE_URL, { max: 3 });
  const tenant: Tenant = await tenantsRepository(db.db).create({
    slug: ns.slug,
    displayName: `Test ${ns.slug}`,
    idpIssuer: idp.issuer,
    enabledTools: opts.enabledTools ?? ['whoami', 'web_search', 'echo'],
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
  const clients: Client[] = [];

  const stack = {
    ns,
    env,
    config,
    db,
    idp,
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
    token(sub: string, o: { audience?: string; scope?: string; ttlSeconds?: number } = {}) {
      return idp.mintAccessToken({ sub, audience: o.audience ?? mcpUrl, scope: o.scope ?? ALL_SCOPES, ...(o.ttlSeconds ? { ttlSeconds: o.ttlSeconds } : {}) });
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
    /** The official MCP SDK client, connected with a bearer token. */
    async client(token: string, url = mcpUrl): Promise<Client> {
      const client = new Client({ name: 'mcprt-test', version: '1.0.0' });
      const transport = new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers: { Authorization: `Bearer ${token}` } } });
      await client.connect(transport);
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
