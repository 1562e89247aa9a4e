import { execFile, execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

/**
 * Every command `pnpm start` prints (infra/scripts/banner.sh) works on a machine with only Node: the
 * banner prints them in the `npx --yes pnpm@12.4.2 …` form, and each is run here with a PATH that
 * has node and npx but no pnpm (the CLI commands with --help, the demo against an API that is not
 * there, which it must say). Needs the npm registry or npx's cache for pnpm 12.4.2.
 */
const root = fileURLToPath(new URL('../..', import.meta.url));
const run = promisify(execFile);
const NPX_PNPM = 'npx --yes pnpm@12.4.2';
/** A shell environment without pnpm: system directories only, none of the npm_* variables pnpm sets for this test run. */
const PATH_WITHOUT_PNPM = '/usr/local/bin:/usr/bin:/bin';
const bareEnv = { HOME: process.env.HOME ?? '/root', PATH: PATH_WITHOUT_PNPM, LANG: 'C.UTF-8' };

function bannerCommands(): string[] {
  const banner = execFileSync('bash', ['infra/scripts/banner.sh', 'http://127.0.0.1:3000', 'http://127.0.0.1:4000', 'search'], { cwd: root, encoding: 'utf8' });
  return banner
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l.includes('pnpm') && !l.startsWith('('))
    .map((l) => l.replace(/^TOKEN=\$\((.*)\)$/, '$1'));
}

describe('the start banner', () => {
  it('prints every command in the form that needs no global pnpm', () => {
    const commands = bannerCommands();
    expect(commands).toHaveLength(3);
    for (const c of commands) expect(c.startsWith(`${NPX_PNPM} `), c).toBe(true);
  });

  it('each printed command runs with a PATH that has node and npx but no pnpm', { timeout: 180_000 }, async () => {
    expect(() => execFileSync('bash', ['-c', 'command -v pnpm'], { env: bareEnv })).toThrow();
    const runs = bannerCommands().map(async (line) => {
      const argv = line.split(/\s+/).slice(1); // after `npx`
      const script = argv.indexOf('cli') >= 0 ? 'cli' : 'demo';
      if (script === 'cli') {
        // Up to the command's name (`cli mcp call`, `cli dev token`), then --help: no stack needed.
        const at = argv.indexOf('cli');
        const help = [...argv.slice(0, at + 3), '--help'];
        const out = await run('npx', help, { cwd: root, env: bareEnv });
        expect(out.stdout, line).toMatch(/^usage: /m);
        return;
      }
      // The demo itself, against an API that is not running: it starts (Node 22, tsx) and says what to do.
      const err = await run('npx', [...argv, '--url', 'http://127.0.0.1:9/t/dev/mcp'], { cwd: root, env: bareEnv }).then(
        () => new Error('the demo exited 0 without an API'),
        (e: { stderr: string }) => e,
      );
      expect((err as { stderr: string }).stderr, line).toMatch(/is not answering: start it with `npx --yes pnpm@12\.4\.2 start`/);
    });
    await Promise.all(runs);
  });
});
