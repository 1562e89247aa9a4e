import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../..', import.meta.url));

export interface WorkerProcess {
  child: ChildProcess;
  output: () => string;
  ready: Promise<void>;
  exited: Promise<number | null>;
}

/** The real worker entry point as its own OS process (for SIGKILL / SIGTERM tests and the benchmark). */
export function spawnWorker(env: Record<string, string>, extra: Record<string, string> = {}): WorkerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'apps/worker/src/main.ts'], {
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
  const append = (b: Buffer) => {
    out += b.toString();
    if (out.length > 256_000) out = out.slice(-128_000);
  };
  const ready = new Promise<void>((resolve, reject) => {
    const onData = (b: Buffer) => {
      const before = out.length;
      append(b);
      if (out.includes('worker ready', Math.max(0, Math.min(before, out.length) - 16))) resolve();
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', append);
    child.once('exit', (code) => reject(new Error(`worker exited early (${code}): ${out.slice(-2000)}`)));
  });
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, output: () => out, ready, exited };
}
