import { DEV_LOGIN_CLIENT, startDevIdp } from '@mcprt/dev-idp';
import { spawnApp } from '../src/harness/app-process.js';
import { runCli } from '../src/harness/cli-process.js';
import { freePort } from '../src/harness/free-port.js';
import { namespace, testEnv } from '../src/harness/test-config.js';
import { cloneDatabase } from '../src/harness/test-database.js';
import { startBearerProxy } from './bearer-proxy.js';

export const SLUG = 'conformance';

/**
 * The stack the suite runs against: a database cloned from the migrated test database, the dev IdP
 * (the tenant's users sign in there), the API and one worker as their own processes (the real path:
 * API → queue → worker → Postgres), then `cli dev conformance` as an operator runs it, and the
 * bearer hop in front of the MCP endpoint.
 */
export async function startConformanceStack() {
  const db = await cloneDatabase('conformance');
  const stops: (() => Promise<unknown>)[] = [() => db.drop()];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch((e: unknown) => console.error('[conformance] stop:', e));
  };
  try {
    const port = await freePort();
    const proxyPort = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const env = testEnv({
      port,
      queuePrefix: namespace('conformance').queuePrefix,
      databaseUrl: db.appUrl,
      // Progress every 250 ms (test_tool_with_progress runs 1.5 s); a task after 300 ms (slow_compute of 1 s
      // is one whatever the load); browsers' Origin of the bearer hop allowed.
      extra: { PROGRESS_INTERVAL_MS: '250', TASK_WAIT_MS: '300', ALLOWED_ORIGINS: `http://127.0.0.1:${proxyPort}`, LOG_LEVEL: 'warn' },
    });
    const idp = await startDevIdp({ port: 0, loginClients: [{ ...DEV_LOGIN_CLIENT, redirectUris: [`${publicUrl}/t/${SLUG}/login/callback`] }] });
    stops.push(() => idp.close());
    const api = spawnApp('api', env, { LOG_LEVEL: 'warn' }, { readyUrl: `${publicUrl}/readyz` });
    stops.push(() => kill(api.child, api.exited));
    const worker = spawnApp('worker', env);
    stops.push(() => kill(worker.child, worker.exited));
    await Promise.all([api.ready, worker.ready]);
    const cli = await runCli(['dev', 'conformance', '--idp', idp.issuer], env);
    const lines = cli.stdout.trimEnd().split('\n');
    if (cli.code !== 0 || lines.length !== 2) throw new Error(`cli dev conformance → ${cli.code}: ${cli.stdout}${cli.stderr}`);
    const mcpUrl = lines[0]!.replace(/^MCP_URL=/, '');
    const token = lines[1]!.replace(/^TOKEN=/, '');
    const proxy = await startBearerProxy(new URL(publicUrl), token, proxyPort);
    stops.push(() => proxy.close());
    const suiteUrl = mcpUrl.replace(publicUrl, `http://127.0.0.1:${proxy.port}`);
    return { publicUrl, mcpUrl, token, suiteUrl, issuer: `${publicUrl}/t/${SLUG}`, idp, stop, logs: () => api.output() + worker.output() };
  } catch (e) {
    await stop();
    throw e;
  }
}

async function kill(child: { kill: (s: NodeJS.Signals) => boolean; exitCode: number | null }, exited: Promise<unknown>) {
  if (child.exitCode !== null) return;
  child.kill('SIGTERM');
  await Promise.race([exited, new Promise((r) => setTimeout(r, 8_000))]);
  if (child.exitCode === null) child.kill('SIGKILL');
}
