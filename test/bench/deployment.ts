/**
 * The system under test, as deployed: a fresh database, the harness stack (dev IdP, Redis, the
 * tenant), then BENCH_API_PROCESSES API and BENCH_WORKER_PROCESSES worker processes from their real
 * entry points (`apps/{api,worker}/src/main.ts`), each with its Prometheus listener on a free port
 * (the bench reads their heap there), and the load clients with their users' tokens.
 */
import { createServer } from 'node:http';
import { createDb, ensureDatabase, runMigrations } from '@mcprt/db';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { spawnApp, type AppProcess } from '../src/harness/app-process.js';
import { startBuiltinTenant } from '../src/harness/builtin-tenant.js';
import { freePort } from '../src/harness/free-port.js';
import { startStack, type Stack } from '../src/harness/stack.js';
import { appUrlOf } from '../src/harness/test-config.js';
import { BuiltinTokens, jwtClaims } from './builtin-tokens.js';
import { rawCaller, type Caller } from './load.js';
import type { Pids } from './probes.js';
import {
  API_PROCESSES,
  AUTH,
  BENCH_DATABASE_URL,
  CLIENT_KIND,
  CLIENTS,
  DB_POOL_MAX,
  MODERN,
  PENDING_CAP,
  PROTOCOL,
  SDK_KIND,
  TOKEN_REFRESH_S,
  USERS,
  WORKER_CONCURRENCY,
  WORKER_PROCESSES,
} from './settings.js';
import { log } from './stats.js';

export async function freshDatabase(url: string): Promise<void> {
  const u = new URL(url);
  const name = decodeURIComponent(u.pathname.slice(1));
  if (!/^[A-Za-z0-9_]+$/.test(name)) throw new Error('BENCH_DATABASE_URL: database name must be [A-Za-z0-9_]+');
  u.pathname = '/postgres';
  const admin = createDb(u.toString(), { max: 1 });
  try {
    await admin.sql.unsafe(`drop database if exists "${name}" with (force)`);
  } finally {
    await admin.close();
  }
  await ensureDatabase(url);
}

export interface Deployment {
  stack: Stack;
  tenantId: string;
  mcpUrl: string;
  /** The MCP URL of each API replica. */
  apiUrls: string[];
  procs: { name: 'api' | 'worker'; p: AppProcess; metricsUrl: string }[];
  pids: Pids;
  tokenOf(user: number): string;
  /** Between phases: refresh tokens past half their refresh age (never during a measured round unless a phase outlasts the margin). */
  refreshBetweenPhases(): Promise<void>;
  clients: Caller[];
  builtinTokens: BuiltinTokens | undefined;
  /** Starts more worker processes (the capacity script's queued-job phase starts them late). */
  addWorkers(n: number): Promise<void>;
  /** SIGTERM, as an orchestrator would: each process must drain and exit 0 within 15 s; false if one did not. */
  stop(): Promise<boolean>;
  /** BENCH_OTEL=on: what the processes exported so far. */
  otelSink: { requests: number; bytes: number } | undefined;
}

export interface DeploymentOptions {
  /** API processes (default BENCH_API_PROCESSES). */
  apis?: number;
  /** Worker processes started with the APIs (default BENCH_WORKER_PROCESSES). */
  workers?: number;
  /** Extra environment for the API and worker processes. */
  env?: Record<string, string>;
}

const cpuProfEnv = (name: string): Record<string, string> => {
  const [cpu, alloc] = [process.env.BENCH_CPU_PROF, process.env.BENCH_ALLOC_PROF];
  if (!cpu && !alloc) return {};
  // `--cpu-prof` is refused in NODE_OPTIONS; a preload that drives the inspector does the same job.
  return {
    NODE_OPTIONS: `--import=${new URL('./cpu-prof.mjs', import.meta.url).href}`,
    BENCH_CPU_PROF_NAME: name,
    ...(cpu ? { BENCH_CPU_PROF_DIR: cpu } : {}),
    ...(alloc ? { BENCH_ALLOC_PROF_DIR: alloc } : {}),
  };
};

/** A cold start under load (tsx transpiling the app on a busy shared machine) can take tens of seconds. */
async function awaitReady(name: string, p: AppProcess): Promise<void> {
  let readyTimer: NodeJS.Timeout | undefined;
  await Promise.race([
    p.ready,
    new Promise<never>((_, rej) => (readyTimer = setTimeout(() => rej(new Error(`${name} not ready after 90 s: ${p.output().slice(-1000)}`)), 90_000))),
  ]).finally(() => clearTimeout(readyTimer));
}

async function stopProcesses(procs: Deployment['procs']): Promise<boolean> {
  let clean = true;
  for (const { name, p } of [...procs].reverse()) {
    if (p.child.exitCode !== null || p.child.signalCode !== null) continue;
    p.child.kill('SIGTERM');
    const code = await Promise.race([p.exited, new Promise<'timeout'>((r) => setTimeout(() => r('timeout'), 15_000).unref())]);
    if (code === 'timeout') {
      process.stderr.write(`${name} did not exit within 15 s of SIGTERM; killing it\n`);
      p.child.kill('SIGKILL');
      await p.exited;
      clean = false;
    } else if (code !== 0) {
      process.stderr.write(`${name} exited with ${code} on SIGTERM: ${p.output().slice(-1000)}\n`);
      clean = false;
    }
  }
  return clean;
}

/** The stack on the run's own database, and the tenant under load (builtin: a second tenant with its own AS). */
async function startTenant(env: Record<string, string>) {
  await freshDatabase(BENCH_DATABASE_URL);
  await runMigrations(BENCH_DATABASE_URL, { appUrl: appUrlOf(BENCH_DATABASE_URL) });
  const stack = await startStack({
    label: 'bench',
    // The stack's tenant trusts the dev IdP's tokens (BENCH_AUTH=external); builtin mode adds a tenant of its own below.
    auth: 'external',
    // The run's own database, made above (dropped, re-created, migrated), not a clone of the template.
    database: { name: new URL(BENCH_DATABASE_URL).pathname.slice(1), ownerUrl: BENCH_DATABASE_URL, appUrl: appUrlOf(BENCH_DATABASE_URL), drop: async () => {} },
    api: 'none',
    worker: 'none',
    env: {
      DATABASE_URL: appUrlOf(BENCH_DATABASE_URL), // the processes run as the app role, as in production
      WORKER_CONCURRENCY: String(WORKER_CONCURRENCY),
      LOG_LEVEL: 'silent',
      // The audit checkpointer runs in the workers during the measurement (every second,
      // 60× more often than the default), on this run's own database.
      AUDIT_CHECKPOINT_INTERVAL_MS: process.env.BENCH_AUDIT_CHECKPOINT_MS ?? '1000',
      ...(DB_POOL_MAX ? { DATABASE_POOL_MAX: DB_POOL_MAX } : {}),
      ...env,
    },
  });
  if (stack.config.WORKER_CONCURRENCY !== WORKER_CONCURRENCY) throw new Error('worker concurrency mismatch');
  // builtin: its own AS federated to a dev IdP that knows the bench's users, set up the operator's way (`tenant set-idp --auth builtin`).
  const builtinTenant =
    AUTH === 'builtin'
      ? await startBuiltinTenant(stack, 'as', ['whoami', 'web_search', 'echo'], {
          accounts: USERS.map((sub) => ({ sub, email: `${sub}@example.test`, name: sub })),
        })
      : undefined;
  const target = builtinTenant ?? { tenant: stack.tenant, mcpUrl: stack.mcpUrl };
  if (target.tenant.authMode !== AUTH) throw new Error(`the bench tenant is in ${target.tenant.authMode} mode, expected ${AUTH}`);
  // Before any request: the API caches the tenant (30 s) on first sight. Limits high enough not to
  // throttle the run: the per-user lease and rate checks still run per call (their cost is what the
  // bench measures), they just never refuse or delay.
  await stack.db
    .sql`update tenants set limits = limits || ${JSON.stringify({ pendingCap: PENDING_CAP, perUserConcurrency: PENDING_CAP, perUserRatePerMinute: 10_000_000 })}::jsonb where id = ${target.tenant.id}`;
  return { stack, builtinTenant, target };
}

/** Each user's current access token: through the built-in AS's OAuth flow (refreshed), or minted by the stack's dev IdP. */
async function userTokens(stack: Stack, builtinTenant: Awaited<ReturnType<typeof startBuiltinTenant>> | undefined) {
  if (!builtinTenant) {
    const tokens = await Promise.all(USERS.map((u) => stack.token(u, { ttlSeconds: 3600 })));
    return { tokenOf: (i: number) => tokens[i % tokens.length]!, refreshBetweenPhases: async () => {}, builtinTokens: undefined };
  }
  const tokens = await BuiltinTokens.signIn(builtinTenant.mcpUrl, USERS);
  for (let i = 0; i < USERS.length; i++) {
    const c = jwtClaims(tokens.token(i));
    const aud = Array.isArray(c.aud) && c.aud.length === 1 ? c.aud[0] : c.aud;
    if (c.iss !== builtinTenant.issuer || aud !== builtinTenant.mcpUrl)
      throw new Error(`${USERS[i]}'s token: iss ${String(c.iss)}, aud ${String(c.aud)}; expected the tenant's AS and MCP URL`);
  }
  const refreshAfterMs = TOKEN_REFRESH_S !== undefined ? TOKEN_REFRESH_S * 1000 : (tokens.lifetimeSeconds * 1000) / 2;
  tokens.startBackground(refreshAfterMs, (e) => log(`token refresh failed: ${e instanceof Error ? e.message : String(e)}`));
  log(
    `auth: ${USERS.length} users signed in at ${builtinTenant.issuer} (SDK auth(): DCR, code + PKCE S256, dev IdP login, consent); access tokens ${tokens.lifetimeSeconds} s, refreshed once ${refreshAfterMs / 1000} s old (between phases from ${refreshAfterMs / 2000} s)`,
  );
  return { tokenOf: (i: number) => tokens.token(i), refreshBetweenPhases: () => tokens.refreshOlderThan(refreshAfterMs / 2), builtinTokens: tokens };
}

/** The load clients: BENCH_CLIENTS raw posters spread over the API replicas (after one probe with the official SDK client), or SDK clients. */
async function loadClients(stack: Stack, mcpUrl: string, apiUrls: string[], tokenOf: (user: number) => string, viaFetch: boolean): Promise<Caller[]> {
  const clients: Caller[] = [];
  if (CLIENT_KIND === 'sdk') {
    // builtin: each request carries the user's current token (refreshed ones too).
    const fetchAs =
      (user: number): typeof fetch =>
      (url, init) => {
        const headers = new Headers(init?.headers);
        headers.set('authorization', `Bearer ${tokenOf(user)}`);
        return fetch(url, { ...init, headers });
      };
    for (let i = 0; i < CLIENTS; i += 8) {
      const batch = Array.from({ length: Math.min(8, CLIENTS - i) }, (_, k) => {
        const user = (i + k) % USERS.length;
        return stack.client(tokenOf(user), { kind: SDK_KIND, url: mcpUrl, ...(viaFetch ? { fetch: fetchAs(user) } : {}) });
      });
      clients.push(...(await Promise.all(batch)));
    }
    return clients;
  }
  // Correctness once with the official SDK client, then the light poster for the load.
  const sdk = await stack.client(tokenOf(0), { kind: SDK_KIND, url: mcpUrl });
  if (sdk.protocolVersion !== PROTOCOL && MODERN) throw new Error(`SDK client negotiated ${sdk.protocolVersion}, expected ${PROTOCOL}`);
  const probe = CallToolResultSchema.parse(await sdk.callTool({ name: 'echo', arguments: { message: 'probe' } }));
  if (probe.isError) throw new Error(`SDK client probe failed: ${JSON.stringify(probe.content)}`);
  for (let i = 0; i < CLIENTS; i++) {
    const user = i % USERS.length;
    clients.push(rawCaller(apiUrls[i % apiUrls.length]!, () => tokenOf(user)));
  }
  return clients;
}

export async function startDeployment(given: DeploymentOptions = {}): Promise<Deployment> {
  const sink = process.env.BENCH_OTEL === 'on' ? await startOtlpSink() : undefined;
  // Tracing on: every call sampled, exported over OTLP http/protobuf (the default) to the sink.
  const opts = sink
    ? { ...given, env: { ...given.env, OTEL_TRACES_EXPORTER: 'otlp', OTEL_EXPORTER_OTLP_ENDPOINT: sink.url, OTEL_TRACES_SAMPLER: 'always_on' } }
    : given;
  const { stack, builtinTenant, target } = await startTenant(opts.env ?? {});
  const procs: Deployment['procs'] = [];
  try {
    // API replicas: the same PUBLIC_URL (so the same token audience), each on its own port, as behind
    // a load balancer; the load clients spread their connections over them.
    const apiUrls: string[] = [];
    for (let i = 0; i < (opts.apis ?? API_PROCESSES); i++) {
      const port = i === 0 ? stack.config.PORT : await freePort();
      const base = `http://127.0.0.1:${port}`;
      const metricsPort = await freePort();
      const env = { LOG_LEVEL: 'warn', PORT: String(port), METRICS_PORT: String(metricsPort), ...opts.env, ...cpuProfEnv('api') };
      const p = spawnApp('api', stack.env, env, { readyUrl: `${base}/readyz` });
      procs.push({ name: 'api', p, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` });
      apiUrls.push(`${base}${new URL(target.mcpUrl).pathname}`);
    }
    const addWorkers = async (n: number) => {
      const started: AppProcess[] = [];
      for (let i = 0; i < n; i++) {
        const metricsPort = await freePort();
        // The worker stays at info until ready: it logs its concurrency, checked below.
        const p = spawnApp('worker', stack.env, { WORKER_METRICS_PORT: String(metricsPort), ...opts.env, ...cpuProfEnv('worker') });
        procs.push({ name: 'worker', p, metricsUrl: `http://127.0.0.1:${metricsPort}/metrics` });
        started.push(p);
      }
      for (const p of started) {
        await awaitReady('worker', p);
        // Make sure it runs with the concurrency the baseline uses.
        const announced = /"concurrency":(\d+)/.exec(p.output())?.[1];
        if (announced !== undefined && Number(announced) !== WORKER_CONCURRENCY)
          throw new Error(`worker runs with concurrency ${announced}, expected ${WORKER_CONCURRENCY}`);
      }
    };
    for (const { name, p } of procs) await awaitReady(name, p);
    await addWorkers(opts.workers ?? WORKER_PROCESSES);
    const pids: Pids = { api: [], worker: [] };
    const refreshPids = () => {
      pids.api = procs.filter((x) => x.name === 'api').map((x) => x.p.child.pid!);
      pids.worker = procs.filter((x) => x.name === 'worker').map((x) => x.p.child.pid!);
    };
    refreshPids();
    const auth = await userTokens(stack, builtinTenant);
    const clients = await loadClients(stack, target.mcpUrl, apiUrls, auth.tokenOf, auth.builtinTokens !== undefined);
    return {
      stack,
      tenantId: target.tenant.id,
      mcpUrl: target.mcpUrl,
      apiUrls,
      procs,
      pids,
      ...auth,
      clients,
      otelSink: sink?.stats,
      addWorkers: async (n) => {
        await addWorkers(n);
        refreshPids();
      },
      stop: async () => {
        // The token refresher first: it talks to the API, which is about to go.
        await auth.builtinTokens?.stop();
        const clean = await stopProcesses(procs);
        await stack.close();
        return clean;
      },
    };
  } catch (e) {
    await stopProcesses(procs);
    await stack.close();
    throw e;
  }
}

/** BENCH_OTEL=on: where the processes export their spans; reads each request whole, answers 200, keeps counts. */
async function startOtlpSink() {
  const stats = { requests: 0, bytes: 0 };
  const server = createServer((req, res) => {
    req.on('data', (c: Buffer) => (stats.bytes += c.length));
    req.on('end', () => {
      stats.requests++;
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  server.unref();
  return { url: `http://127.0.0.1:${(server.address() as { port: number }).port}`, stats };
}
