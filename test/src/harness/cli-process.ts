import { execFile, spawn, type ChildProcessByStdio } from 'node:child_process';
import type { Readable } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const root = fileURLToPath(new URL('../../..', import.meta.url));
/** The CLI's real entry point, as an operator runs it (`pnpm cli …`). */
const CLI = ['--import', 'tsx', 'apps/cli/src/main.ts'];

/** The environment of a CLI run: only PATH (and HOME) from this process, the rest as given. */
const cliEnv = (env: Record<string, string>) => ({ PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/root', ...env });

/** Runs the CLI to its end; its exit code and output (a non-zero exit is an answer, not a throw). */
export async function runCli(
  args: string[],
  env: Record<string, string>,
  o: { timeoutMs?: number } = {},
): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await promisify(execFile)(process.execPath, [...CLI, ...args], { cwd: root, env: cliEnv(env), timeout: o.timeoutMs ?? 60_000 });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: typeof err.code === 'number' ? err.code : -1, stdout: err.stdout ?? '', stderr: err.stderr ?? '' };
  }
}

/** Starts the CLI as a child process the test talks to while it runs (e.g. a sign-in it must complete). */
export function spawnCli(args: string[], env: Record<string, string>): ChildProcessByStdio<null, Readable, Readable> {
  return spawn(process.execPath, [...CLI, ...args], { cwd: root, env: cliEnv(env), stdio: ['ignore', 'pipe', 'pipe'] });
}
