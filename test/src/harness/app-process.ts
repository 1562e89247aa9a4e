import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { sleep } from './wait-for.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export interface AppProcess {
  child: ChildProcess;
  output: () => string;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

/**
 * The node flags every API and worker process runs with (as infra/Dockerfile and the k8s manifests
 * start them): AsyncLocalStorage on async context frames instead of async_hooks. The built-in
 * authorization server (oidc-provider) keeps each request in an AsyncLocalStorage; on Node 22 its
 * first use turns promise hooks on for the life of the process, which then cost every promise of
 * every request (≈4 % of the API's CPU on the call path in profiles). Node 24 does this by default.
 */
const APP_NODE_FLAGS = ['--experimental-async-context-frame'];
/** Extra node arguments for the app processes (profiling preloads): MCPRT_APP_NODE_ARGS, space-separated. */
const extraNodeArgs = () => (process.env.MCPRT_APP_NODE_ARGS ? process.env.MCPRT_APP_NODE_ARGS.split(' ').filter(Boolean) : []);

const READY_LINE = { api: 'api listening', worker: 'worker ready' } as const;

/**
 * A real entry point (`apps/<app>/src/main.ts`) as its own OS process: for SIGKILL / SIGTERM tests
 * and the benchmark. `ready` resolves when the app logs its ready line (LOG_LEVEL info, the default
 * here) or, with `readyUrl`, when that URL answers 200 (for a quieter LOG_LEVEL).
 */
export function spawnApp(app: 'api' | 'worker', env: Record<string, string>, extra: Record<string, string> = {}, opts: { readyUrl?: string } = {}): AppProcess {
  const child = spawn(process.execPath, [...APP_NODE_FLAGS, ...extraNodeArgs(), '--import', 'tsx', `apps/${app}/src/main.ts`], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...env, LOG_LEVEL: 'info', ...extra },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Never outlive the test process (a failed assertion before the test's own kill).
  const reap = () => child.kill('SIGKILL');
  process.once('exit', reap);
  child.once('exit', () => process.removeListener('exit', reap));
  let out = '';
  // Keep the tail only: a benchmark's worker logs a line per call.
  // MCPRT_APP_OUTPUT_DIR: each process's whole output also goes to <dir>/<app>-<pid>.log (what V8's
  // --trace-gc-nvp, given through MCPRT_APP_NODE_ARGS, prints there; the tail kept here is short).
  const copy = process.env.MCPRT_APP_OUTPUT_DIR ? createWriteStream(`${process.env.MCPRT_APP_OUTPUT_DIR}/${app}-${child.pid}.log`) : undefined;
  const append = (b: Buffer) => {
    copy?.write(b);
    out += b.toString();
    if (out.length > 256_000) out = out.slice(-128_000);
  };
  const line = READY_LINE[app];
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      const before = out.length;
      append(b);
      if (out.includes(line, Math.max(0, Math.min(before, out.length) - line.length))) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', append);
    child.once('exit', (code) => reject(new Error(`${app} exited early (${code}): ${out.slice(-2000)}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  if (opts.readyUrl) {
    const url = opts.readyUrl;
    ready.catch(() => undefined);
    const polled = (async () => {
      while (child.exitCode === null) {
        const ok = await fetch(url).then(
          (r) => r.ok,
          () => false,
        );
        if (ok) return;
        await sleep(100);
      }
      throw new Error(`${app} exited early (${child.exitCode}): ${out.slice(-2000)}`);
    })();
    return { child, output: () => out, ready: polled, exited };
  }
  return { child, output: () => out, ready, exited };
}
