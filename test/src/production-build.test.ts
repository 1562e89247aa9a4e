import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { cpSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { freePort } from './harness/free-port.js';
import { startStack, type Stack } from './harness/stack.js';
import { startOtlpReceiver } from './harness/otlp-receiver.js';
import { sleep, waitFor as waitForValue } from './harness/wait-for.js';

const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);

/**
 * The production path, as the image runs it (infra/Dockerfile), without a
 * Docker engine: `pnpm build` compiles every package to dist/, `pnpm deploy --prod` makes the API's
 * and the worker's directories with production dependencies only, and both start with plain `node`
 * (TypeScript stripping off, so a .ts file reached by mistake fails) and serve a real tool call.
 * The API's /metrics is on its own listener, not on the public port; with tracing on, both export
 * their spans (the SDK, loaded only then, resolves in the deployed directories).
 */
/**
 * The working tree's install: pnpm's record of it (its settings and projects, null if none; not when it
 * was last checked) and the tools it links in node_modules/.bin.
 */
function installState(): { state: string | null; bins: string[] } {
  const file = join(root, 'node_modules', '.pnpm-workspace-state-v1.json');
  let state: string | null = null;
  if (existsSync(file)) {
    const { lastValidatedTimestamp: _checkedAt, ...rest } = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
    state = JSON.stringify(rest, null, 1);
  }
  return { state, bins: readdirSync(join(root, 'node_modules', '.bin')).sort() };
}

describe('production build', () => {
  let s: Stack;
  let out: string;
  let installBefore: ReturnType<typeof installState>;
  const procs: { child: ChildProcess; log: () => string }[] = [];

  const startCompiled = (dir: string, env: Record<string, string>) => {
    const noTs = process.allowedNodeEnvironmentFlags.has('--no-experimental-strip-types') ? ['--no-experimental-strip-types'] : [];
    const child = spawn(process.execPath, [...noTs, '--experimental-async-context-frame', '--conditions=mcprt-dist', 'dist/main.js'], {
      cwd: dir,
      env: { PATH: process.env.PATH ?? '', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let text = '';
    child.stdout!.on('data', (b: Buffer) => (text += b.toString()));
    child.stderr!.on('data', (b: Buffer) => (text += b.toString()));
    const p = { child, log: () => text };
    procs.push(p);
    return p;
  };
  const waitFor = async (what: string, p: { child: ChildProcess; log: () => string }, ok: () => Promise<boolean>) => {
    const until = Date.now() + 30_000;
    while (Date.now() < until) {
      if (p.child.exitCode !== null) throw new Error(`${what} exited (${p.child.exitCode}): ${p.log().slice(-2000)}`);
      if (await ok().catch(() => false)) return;
      await sleep(100);
    }
    throw new Error(`${what} not ready after 30 s: ${p.log().slice(-2000)}`);
  };

  beforeAll(async () => {
    // Stage 1 of the Dockerfile, in a directory of its own: the files it COPYs, a frozen install,
    // `pnpm build`, `pnpm deploy --prod`. (Not in the working tree: a deploy records production-only
    // settings in the workspace's node_modules state, and the next `pnpm run` there would prune the
    // dev dependencies to match.)
    installBefore = installState();
    out = mkdtempSync(join(tmpdir(), 'mcprt-image-'));
    const src = join(out, 'src');
    for (const f of [
      'pnpm-lock.yaml',
      'pnpm-workspace.yaml',
      'package.json',
      'tsconfig.base.json',
      'tsconfig.build.json',
      'test/package.json',
      'infra/scripts/build.mjs',
    ]) {
      cpSync(join(root, f), join(src, f));
    }
    for (const d of ['apps', 'packages', 'patches']) {
      cpSync(join(root, d), join(src, d), { recursive: true, filter: (p) => !/[/\\](node_modules|dist)$/.test(p) });
    }
    const env = { ...process.env, CI: 'true' };
    await run('pnpm', ['install', '--frozen-lockfile', '--prefer-offline'], { cwd: src, env });
    await run('pnpm', ['build'], { cwd: src, env });
    for (const app of ['api', 'worker']) {
      await run('pnpm', ['--filter', `@mcprt/${app}`, 'deploy', '--prod', '--legacy', join(out, app)], { cwd: src, env });
    }
    s = await startStack({ label: 'prod', api: 'none', worker: 'none' });
  }, 180_000);

  afterAll(async () => {
    for (const p of procs) p.child.kill('SIGKILL');
    await s?.close();
    if (out) rmSync(out, { recursive: true, force: true });
  });

  it('leaves the install of the working tree alone (dev dependencies stay)', () => {
    // The build, install and deploy above ran; the working tree's install is what it was before them.
    expect(installState()).toEqual(installBefore);
    expect(installBefore.bins).toEqual(expect.arrayContaining(['tsx', 'vitest', 'tsc']));
    if (installBefore.state !== null) expect(installBefore.state).not.toMatch(/"dev": false/);
  });

  it('deploys compiled JavaScript with production dependencies only', () => {
    const store = readdirSync(join(out, 'api', 'node_modules', '.pnpm'));
    for (const dev of ['tsx@', 'typescript@', 'vitest@', 'esbuild@', 'drizzle-kit@', 'eslint@']) {
      expect(
        store.filter((d) => d.startsWith(dev)),
        dev,
      ).toEqual([]);
    }
    expect(existsSync(join(out, 'api', 'dist', 'main.js'))).toBe(true);
    expect(existsSync(join(out, 'api', 'src'))).toBe(false);
    expect(existsSync(join(out, 'api', 'node_modules', '@mcprt', 'db', 'dist', 'index.js'))).toBe(true);
    expect(existsSync(join(out, 'api', 'node_modules', '@mcprt', 'db', 'src'))).toBe(false);
    expect(existsSync(join(out, 'worker', 'node_modules', '@mcprt', 'db', 'migrations'))).toBe(true);
    // Our patch to BullMQ (patches/) is in what both processes run, in both module formats.
    for (const app of ['api', 'worker']) {
      for (const format of ['cjs', 'esm']) {
        const copies = readdirSync(join(out, app, 'node_modules', '.pnpm')).filter((d) => d.startsWith('bullmq@'));
        expect(copies, app).toHaveLength(1);
        const script = readFileSync(
          join(out, app, 'node_modules', '.pnpm', copies[0]!, 'node_modules', 'bullmq', 'dist', format, 'scripts', 'moveToActive-11.js'),
          'utf8',
        );
        expect(script, `${app} ${format}`).toContain('mcprt patch');
      }
    }
    // And our patches to postgres.js and zod, which keep each query's and each object schema's
    // objects out of the young collections' survivors (docs/architecture.md, "Performance").
    const patched: [string, string, string][] = [
      ['postgres@3.4.9', 'postgres/src/query.js', 'settleResolve'],
      ['postgres@3.4.9', 'postgres/cjs/src/query.js', 'settleResolve'],
      ['zod@4.6.7', 'zod/v4/core/util.js', 'installShapeAccessor'],
      ['zod@4.6.7', 'zod/v4/core/util.cjs', 'installShapeAccessor'],
      ['zod@4.6.7', 'zod/v4/core/parse.js', 'class Failure'],
    ];
    for (const app of ['api', 'worker']) {
      for (const [pkg, file, mark] of patched) {
        const copies = readdirSync(join(out, app, 'node_modules', '.pnpm')).filter((d) => d.startsWith(pkg));
        expect(copies, `${app} ${pkg}`).toHaveLength(1);
        expect(readFileSync(join(out, app, 'node_modules', '.pnpm', copies[0]!, 'node_modules', file), 'utf8'), `${app} ${file}`).toContain(mark);
      }
    }
  });

  it('runs the compiled API and worker with node, serves a tool call, and keeps /metrics off the public port', async () => {
    const metricsPort = await freePort();
    const base = `http://127.0.0.1:${s.config.PORT}`;
    // Tracing on, so the SDK's modules (loaded only then) must resolve in the deployed directories.
    const receiver = await startOtlpReceiver();
    const tracing = {
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
      OTEL_BSP_SCHEDULE_DELAY: '100',
    };
    const api = startCompiled(join(out, 'api'), { ...s.env, ...tracing, LOG_LEVEL: 'info', METRICS_PORT: String(metricsPort) });
    await waitFor('compiled api', api, async () => (await fetch(`${base}/readyz`)).ok);
    const worker = startCompiled(join(out, 'worker'), { ...s.env, ...tracing, LOG_LEVEL: 'info' });
    await waitFor('compiled worker', worker, async () => worker.log().includes('worker ready'));

    expect((await fetch(`${base}/healthz`)).status).toBe(200);

    const { upstreamAccessToken } = await s.connectUser('alice');
    expect(upstreamAccessToken).toBeTruthy();
    const client = await s.client(await s.token('alice'));
    const res = await client.callTool({ name: 'whoami', arguments: {} });
    expect(res.isError).toBeFalsy();
    expect(JSON.stringify(res)).toContain('alice');
    const spans = await waitForValue('spans of both processes', async () => {
      const names = new Set(receiver.spans.map((sp) => `${sp.service} ${sp.name}`));
      return names.has('mcprt-api tools/call whoami') && names.has('mcprt-worker execute_tool whoami') ? names : undefined;
    });
    expect(spans.size).toBeGreaterThan(2);
    await receiver.close();

    // Metrics are not on the public MCP port, and are on the metrics port (loopback).
    expect((await fetch(`${base}/metrics`)).status).toBe(404);
    const scraped = await fetch(`http://127.0.0.1:${metricsPort}/metrics`);
    expect(scraped.status).toBe(200);
    expect(await scraped.text()).toContain('mcprt_http_requests_total');
    expect((await fetch(`http://127.0.0.1:${metricsPort}/healthz`)).status).toBe(404);
    expect(api.log()).toContain(`"metricsUrl":"http://127.0.0.1:${metricsPort}/metrics"`);
    // The start-up lines name no secret from the environment.
    expect(api.log() + worker.log()).not.toContain(s.env.SEAL_KEYS!.split(':')[1]!);
  });
});
