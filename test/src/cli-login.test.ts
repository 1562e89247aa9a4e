import { chmodSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startLoopback, TOKEN_FILE, TokenStore } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnCli } from './harness/cli-process.js';
import { browse } from './harness/browser.js';
import { startStack } from './harness/stack.js';

/**
 * `pnpm cli mcp call … --login` end to end, as a separate process: it prints the authorization URL,
 * a user agent (plain HTTP here, with the dev IdP's login form and our consent form) follows it and
 * lands on the CLI's loopback redirect; the CLI redeems the code, calls the tool, and caches the
 * tokens per (server URL, user) in a 0600 file. The next run uses them; an expired access token is
 * refreshed without a browser.
 */
type Stack = Awaited<ReturnType<typeof startStack>>;
let s: Stack;
let t: Stack;
const configDir = join(mkdtempSync(join(tmpdir(), 'mcprt-cli-login-')), 'config');

beforeAll(async () => {
  s = await startStack({ label: 'cli-login' });
  t = s;
});

afterAll(async () => {
  await t?.idp.close();
  await s?.close();
});

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  /** The authorization URLs the CLI printed (and the test followed). */
  urls: string[];
}

/** Runs the CLI; when it prints an authorization URL, signs `account` in with plain HTTP and delivers the callback to the CLI's loopback listener. */
function cli(args: string[], account: string, consent: 'allow' | 'deny' = 'allow'): Promise<Run> {
  return new Promise((done, fail) => {
    const child = spawnCli(args, { MCPRT_CONFIG_DIR: configDir });
    const run: Run = { code: null, stdout: '', stderr: '', urls: [] };
    const followed: Promise<unknown>[] = [];
    const timer = setTimeout(() => child.kill('SIGKILL'), 50_000);
    child.stdout.on('data', (d: Buffer) => (run.stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => {
      run.stderr += d.toString();
      for (const m of d.toString().matchAll(/^ {2}(http\S+\/auth\?\S+)$/gm)) {
        const url = new URL(m[1]!);
        run.urls.push(url.href);
        const redirect = url.searchParams.get('redirect_uri')!;
        const follow = browse(url, { account, stopAt: redirect, consent }).then(async ({ callback }) => {
          const res = await fetch(callback);
          expect(res.status).toBe(200);
          await res.text();
        });
        // A failed sign-in must not leave the CLI waiting for its callback.
        follow.catch(() => child.kill('SIGKILL'));
        followed.push(follow);
      }
    });
    child.on('error', fail);
    child.on('exit', (code) => {
      clearTimeout(timer);
      run.code = code;
      Promise.all(followed).then(() => done(run), fail);
    });
  });
}

const tokenFile = () =>
  JSON.parse(readFileSync(join(configDir, TOKEN_FILE), 'utf8')) as {
    servers: Record<string, { client?: { client_id: string }; users: Record<string, { access_token: string; refresh_token?: string }> }>;
  };

describe('pnpm cli mcp call --login', () => {
  it('signs alice in through the printed URL (loopback redirect), calls whoami, caches the tokens (0600); the next run needs no browser; an expired token is refreshed', async () => {
    const args = ['mcp', 'call', '--url', t.mcpUrl, '--login', '--user', 'alice', '--tool', 'whoami'];
    const first = await cli(args, 'alice');
    expect(first.code, first.stderr).toBe(0);
    expect(first.urls).toHaveLength(1);
    const auth = new URL(first.urls[0]!);
    expect(auth.origin + auth.pathname).toBe(`${t.issuer}/auth`);
    expect(auth.searchParams.get('code_challenge_method')).toBe('S256');
    expect(auth.searchParams.get('resource')).toBe(t.mcpUrl);
    expect(auth.searchParams.get('state')).toBeTruthy();
    expect(auth.searchParams.get('redirect_uri')).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
    expect(JSON.parse(first.stdout)).toMatchObject({ subject: 'alice', issuer: t.idp.issuer });

    // The file: 0600 in a 0700 directory, per server URL and user, never printed.
    expect(statSync(join(configDir, TOKEN_FILE)).mode & 0o777).toBe(0o600);
    expect(statSync(configDir).mode & 0o777).toBe(0o700);
    const saved = tokenFile().servers[t.mcpUrl]!;
    expect(saved.client?.client_id).toBeTruthy();
    const aliceTokens = saved.users.alice!;
    expect(aliceTokens.refresh_token).toBeTruthy();
    expect(first.stdout + first.stderr).not.toContain(aliceTokens.access_token);
    expect(first.stdout + first.stderr).not.toContain(aliceTokens.refresh_token);

    // Second run: cached tokens, no browser, on another loopback port (the registration still fits: RFC 8252).
    const second = await cli(args, 'alice');
    expect(second.code, second.stderr).toBe(0);
    expect(second.urls).toHaveLength(0);
    expect(JSON.parse(second.stdout)).toMatchObject({ subject: 'alice' });

    // An access token the server refuses (expired, or here garbled): the SDK refreshes it (rotation) and the call goes through.
    const file = tokenFile();
    file.servers[t.mcpUrl]!.users.alice!.access_token = 'eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjF9.expired';
    writeFileSync(join(configDir, TOKEN_FILE), JSON.stringify(file), { mode: 0o600 });
    const third = await cli(args, 'alice');
    expect(third.code, third.stderr).toBe(0);
    expect(third.urls).toHaveLength(0);
    expect(JSON.parse(third.stdout)).toMatchObject({ subject: 'alice' });
    const refreshed = tokenFile().servers[t.mcpUrl]!.users.alice!;
    expect(refreshed.access_token).not.toBe('eyJhbGciOiJFUzI1NiJ9.eyJleHAiOjF9.expired');
    expect(refreshed.refresh_token).not.toBe(aliceTokens.refresh_token);
  });

  it('bob gets his own cache entry and his own identity; a consent denied ends with exit 1 and nothing cached for that user', async () => {
    const bob = await cli(['mcp', 'call', '--url', t.mcpUrl, '--login', '--user', 'bob', '--tool', 'whoami'], 'bob');
    expect(bob.code, bob.stderr).toBe(0);
    expect(bob.urls).toHaveLength(1);
    expect(JSON.parse(bob.stdout)).toMatchObject({ subject: 'bob' });
    expect(Object.keys(tokenFile().servers[t.mcpUrl]!.users).sort()).toEqual(['alice', 'bob']);

    // The label is the cache key, not the identity: bob again, under another label, refusing.
    const refused = await cli(['mcp', 'call', '--url', t.mcpUrl, '--login', '--user', 'bob-work', '--tool', 'whoami'], 'bob', 'deny');
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain('sign-in not completed: access_denied');
    expect(tokenFile().servers[t.mcpUrl]!.users['bob-work']).toBeUndefined();
  });

  it('--login with --scope asks for less; a tool needing more gets the step-up (a second URL) and then works', async () => {
    const run = await cli(
      ['mcp', 'call', '--url', t.mcpUrl, '--login', '--user', 'alice-narrow', '--scope', 'tools:whoami', '--tool', 'web_search', '--args', '{"query":"mcp"}'],
      'alice',
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.urls).toHaveLength(2);
    expect(new URL(run.urls[0]!).searchParams.get('scope')!.split(' ')).not.toContain('tools:web_search');
    expect(new URL(run.urls[1]!).searchParams.get('scope')!.split(' ')).toEqual(expect.arrayContaining(['tools:whoami', 'tools:web_search']));
    expect((JSON.parse(run.stdout) as { results: unknown[] }).results.length).toBeGreaterThan(0);
  });

  it('refuses --login with --token (exit 2)', async () => {
    const run = await cli(['mcp', 'call', '--url', t.mcpUrl, '--login', '--token', 'x'], 'alice');
    expect(run.code).toBe(2);
    expect(run.stderr).toContain('--login and --token exclude each other');
  });
});

describe('the loopback redirect listener', () => {
  it('binds 127.0.0.1 only; a callback with another state is refused (400) and does not end the wait', async () => {
    const lb = await startLoopback();
    try {
      expect(lb.redirectUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/callback$/);
      const waiting = lb.waitFor('the-state', 5_000);
      const wrong = await fetch(`${lb.redirectUrl}?code=evil&state=other`);
      expect(wrong.status).toBe(400);
      const other = await fetch(`${lb.redirectUrl.replace('/callback', '/elsewhere')}?state=the-state`);
      expect(other.status).toBe(400);
      const right = await fetch(`${lb.redirectUrl}?code=good&state=the-state`);
      expect(right.status).toBe(200);
      expect(right.headers.get('content-security-policy')).toContain("default-src 'none'");
      expect((await waiting).get('code')).toBe('good');
      // Used once: the same state again is refused.
      expect((await fetch(`${lb.redirectUrl}?code=again&state=the-state`)).status).toBe(400);
    } finally {
      await lb.close();
    }
  });
});

describe('the token file', () => {
  it('a file readable by others is tightened to 0600 when opened; a file this CLI did not write is refused, not half-read', () => {
    const dir = mkdtempSync(join(tmpdir(), 'mcprt-token-file-'));
    const path = join(dir, TOKEN_FILE);
    writeFileSync(path, JSON.stringify({ version: 1, servers: { 'http://x/t/a/mcp': { users: { u: { access_token: 'a', token_type: 'Bearer' } } } } }));
    chmodSync(path, 0o644);
    const store = TokenStore.open(dir);
    expect(store.loosened).toBe(true);
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(store.tokens('http://x/t/a/mcp', 'u')?.access_token).toBe('a');
    writeFileSync(path, JSON.stringify({ version: 1, servers: { 'http://x/t/a/mcp': { users: { u: { access_token: 42 } } } } }));
    expect(() => TokenStore.open(dir)).toThrow(/not a token file this CLI wrote/);
  });
});
