import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The pinned suite (test/package.json devDependency, exact version; the lockfile pins its tree). */
const BIN = fileURLToPath(new URL('../node_modules/@modelcontextprotocol/conformance/dist/index.js', import.meta.url));

export interface Check {
  id: string;
  status: 'SUCCESS' | 'FAILURE' | 'WARNING' | 'SKIPPED' | 'INFO';
  errorMessage?: string;
  details?: { untestable?: boolean; reason?: string };
}

export type Verdict = 'passed' | 'failed' | 'not testable';

export interface ScenarioResult {
  name: string;
  checks: Check[];
  verdict: Verdict;
  output: string;
}

/**
 * A scenario's verdict from its checks: failed when a check failed (other than "not testable"),
 * not testable when a check says so (`details.untestable`: the server lacked what it needed), and
 * passed otherwise (warnings and info do not fail a scenario, as in the suite's own exit code).
 */
export function verdictOf(checks: readonly Check[]): Verdict {
  if (checks.length === 0) return 'failed';
  if (checks.some((c) => c.status === 'FAILURE' && !c.details?.untestable)) return 'failed';
  if (checks.some((c) => c.details?.untestable)) return 'not testable';
  return 'passed';
}

/** Runs the suite's CLI once; its output, exit code and every checks.json it wrote. */
export async function runSuite(args: string[], o: { onLine?: (line: string) => void; timeoutMs?: number } = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'mcprt-conformance-'));
  const child = spawn(process.execPath, [BIN, ...args, '--output-dir', dir], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
  let output = '';
  // Whole lines only, per stream: a chunk may end in the middle of one (a long authorization URL).
  const reader = () => {
    let partial = '';
    return (b: Buffer) => {
      const text = b.toString();
      output += text;
      const lines = (partial + text).split('\n');
      partial = lines.pop() ?? '';
      if (o.onLine) for (const line of lines) o.onLine(line);
    };
  };
  child.stdout.on('data', reader());
  child.stderr.on('data', reader());
  const timer = setTimeout(() => child.kill('SIGKILL'), o.timeoutMs ?? 180_000);
  const code = await new Promise<number | null>((resolve) => child.once('exit', resolve));
  clearTimeout(timer);
  const checks = checksUnder(dir);
  rmSync(dir, { recursive: true, force: true });
  return { code, output, checks };
}

function checksUnder(dir: string): Check[] {
  const out: Check[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...checksUnder(p));
    else if (name === 'checks.json') out.push(...(JSON.parse(readFileSync(p, 'utf8')) as Check[]));
  }
  return out;
}

export async function runServerScenario(url: string, scenario: string, specVersion: string): Promise<ScenarioResult> {
  const version = specVersion === 'extension' ? [] : ['--spec-version', specVersion];
  const r = await runSuite(['server', '--url', url, '--scenario', scenario, ...version, '--timeout', '60000']);
  return { name: `${scenario}@${specVersion}`, checks: r.checks, verdict: verdictOf(r.checks), output: r.output };
}
