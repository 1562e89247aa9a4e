import { execFileSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, linkSync, lstatSync, mkdirSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TOKEN_FILE, TokenStore } from '@mcprt/cli';
import { describe, expect, it } from 'vitest';
import { runCli } from './harness/cli-process.js';

/**
 * The token cache of `pnpm cli mcp call --login` (apps/cli/src/login/token-store.ts) against another
 * local user: a config directory left open to others, links planted in it while it was open, a
 * directory or file that belongs to someone else. Real files, real modes and owners (the tests run as
 * root here, so `chown` can make a directory another user's; they are skipped where that is not so).
 */
const NOBODY = 65534;
const isRoot = typeof process.getuid === 'function' && process.getuid() === 0;
const mode = (p: string) => statSync(p).mode & 0o777;
const fresh = () => mkdtempSync(join(tmpdir(), 'mcprt-token-cache-'));
const URL_A = 'http://127.0.0.1:1/t/a/mcp';
const tokens = { access_token: 'the-access-token', token_type: 'Bearer', refresh_token: 'the-refresh-token' };

describe('the CLI token cache', () => {
  it('an existing config directory with a wide mode (0777) is tightened to 0700 before any token is written; the file is 0600', () => {
    const dir = join(fresh(), 'config');
    mkdirSync(dir);
    chmodSync(dir, 0o777);
    const store = TokenStore.open(dir);
    expect(mode(dir)).toBe(0o700);
    expect(store.loosened).toBe(true);
    store.setTokens(URL_A, 'alice', tokens);
    expect(mode(join(dir, TOKEN_FILE))).toBe(0o600);
    // Opened again: nothing to fix.
    expect(TokenStore.open(dir).loosened).toBe(false);
    expect(TokenStore.open(dir).tokens(URL_A, 'alice')?.access_token).toBe('the-access-token');
  });

  it('a symbolic link planted at the temporary file’s name is not written through: its target is untouched, the token file is a real 0600 file', () => {
    const base = fresh();
    const dir = join(base, 'config');
    mkdirSync(dir, { mode: 0o700 });
    const victim = join(base, 'victim.txt');
    writeFileSync(victim, 'the victim’s own content\n', { mode: 0o644 });
    // What another user could have left while the directory was open to them.
    const tmp = join(dir, `${TOKEN_FILE}.${process.pid}.tmp`);
    symlinkSync(victim, tmp);
    const store = TokenStore.open(dir);
    store.setTokens(URL_A, 'alice', tokens);
    expect(readFileSync(victim, 'utf8')).toBe('the victim’s own content\n');
    expect(mode(victim)).toBe(0o644);
    const file = join(dir, TOKEN_FILE);
    expect(lstatSync(file).isFile()).toBe(true);
    expect(mode(file)).toBe(0o600);
    expect(existsSync(tmp)).toBe(false);
    expect(TokenStore.open(dir).tokens(URL_A, 'alice')?.refresh_token).toBe('the-refresh-token');
  });

  it('a symbolic link planted as the token file itself is refused on open: not read, not chmod-ed, its target untouched', () => {
    const base = fresh();
    const dir = join(base, 'config');
    mkdirSync(dir, { mode: 0o700 });
    const victim = join(base, 'victim.json');
    const content = JSON.stringify({ version: 1, servers: { [URL_A]: { users: { alice: { access_token: 'planted', token_type: 'Bearer' } } } } });
    writeFileSync(victim, content, { mode: 0o644 });
    symlinkSync(victim, join(dir, TOKEN_FILE));
    expect(() => TokenStore.open(dir)).toThrow(/symbolic link; refusing to follow it/);
    expect(mode(victim)).toBe(0o644);
    expect(readFileSync(victim, 'utf8')).toBe(content);
  });

  it('a shared sticky directory (like /tmp) is refused, not closed; a token file with a second link (a hard link planted in an open directory) or a FIFO is refused', () => {
    const shared = join(fresh(), 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    expect(() => TokenStore.open(shared)).toThrow(/shared directory \(sticky bit\)/);
    expect(statSync(shared).mode & 0o7777).toBe(0o1777);

    const base = fresh();
    const dir = join(base, 'config');
    mkdirSync(dir, { mode: 0o700 });
    const victim = join(base, 'victim.json');
    writeFileSync(victim, JSON.stringify({ version: 1, servers: {} }), { mode: 0o644 });
    linkSync(victim, join(dir, TOKEN_FILE));
    expect(() => TokenStore.open(dir)).toThrow(/has other links to it/);
    expect(mode(victim)).toBe(0o644);

    // A FIFO in its place neither blocks the CLI nor is read.
    const fifoDir = join(fresh(), 'config');
    mkdirSync(fifoDir, { mode: 0o700 });
    execFileSync('mkfifo', [join(fifoDir, TOKEN_FILE)]);
    expect(() => TokenStore.open(fifoDir)).toThrow(/not a regular file/);
  });

  it.skipIf(!isRoot)(
    'a config directory that belongs to another user is refused (by the store and by the CLI itself), and nothing is written there',
    async () => {
      const dir = join(fresh(), 'config');
      mkdirSync(dir, { mode: 0o700 });
      chownSync(dir, NOBODY, NOBODY);
      expect(() => TokenStore.open(dir)).toThrow(new RegExp(`belongs to uid ${NOBODY}, not to you`));
      expect(existsSync(join(dir, TOKEN_FILE))).toBe(false);
      expect(mode(dir)).toBe(0o700);
      // The real CLI refuses before it does anything else (no sign-in, no network).
      const cli = await runCli(['mcp', 'call', '--url', URL_A, '--login', '--tool', 'whoami'], { MCPRT_CONFIG_DIR: dir }, { timeoutMs: 30_000 });
      expect(cli.code).not.toBe(0);
      expect(cli.stderr).toMatch(new RegExp(`belongs to uid ${NOBODY}, not to you`));
      expect(cli.stderr).not.toMatch(/http:\/\/\S+\/auth\?/);
      expect(existsSync(join(dir, TOKEN_FILE))).toBe(false);
    },
  );

  it.skipIf(!isRoot)('a token file that belongs to another user, in one’s own directory, is refused', () => {
    const dir = join(fresh(), 'config');
    mkdirSync(dir, { mode: 0o700 });
    const file = join(dir, TOKEN_FILE);
    writeFileSync(file, JSON.stringify({ version: 1, servers: {} }), { mode: 0o600 });
    chownSync(file, NOBODY, NOBODY);
    expect(() => TokenStore.open(dir)).toThrow(new RegExp(`belongs to uid ${NOBODY}, not to you`));
  });
});
