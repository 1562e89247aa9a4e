import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { openOAuthSession, TokenStore } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { artifactsDir, launchChromium, shot, signInInBrowser, type Shots } from './harness/chromium.js';
import { startStack } from './harness/stack.js';

/**
 * The real-browser test: Debian's chromium (headless, driven by playwright-core) signs alice
 * in at a built-in tenant — the dev IdP's login page, our consent page, back to the MCP client's
 * loopback redirect — and then uses the account page to revoke what she allowed. The MCP client is
 * the SDK `Client` with the CLI's OAuth provider (the same code as `pnpm cli mcp call --login`).
 * Screenshots of every page are kept in test/artifacts/browser-signin/ (the path is printed).
 * No chromium → the test fails (CI installs it).
 */
type Stack = Awaited<ReturnType<typeof startStack>>;
let s: Stack;
let t: Stack;
let browser: Browser;
const shots: Shots = { dir: artifactsDir('browser-signin'), files: [] };

beforeAll(async () => {
  browser = await launchChromium();
  s = await startStack({ label: 'browser' });
  t = s;
});

afterAll(async () => {
  await browser?.close();
  await t?.idp.close();
  await s?.close();
  console.log(`browser-signin screenshots (${shots.files.length}): ${shots.dir}`);
});

describe('a real browser (chromium) signs a user in at a built-in tenant', () => {
  it('dev IdP login (alice) → consent (allow) → the client gets tokens; whoami answers alice; the account page lists the grant and revokes it', async () => {
    const context = await browser.newContext();
    const configDir = mkdtempSync(join(tmpdir(), 'mcprt-browser-'));
    const seen: string[][] = [];
    const session = await openOAuthSession({
      url: new URL(t.mcpUrl),
      user: 'alice',
      configDir,
      clientName: 'browser-test',
      versionNegotiation: { mode: 'auto' },
      timeoutMs: 60_000,
      onAuthorizationUrl: async (url) => {
        expect(url.origin + url.pathname).toBe(`${t.issuer}/auth`);
        const { steps, page } = await signInInBrowser(context, url, { account: 'alice', stopAt: url.searchParams.get('redirect_uri')!, shots });
        seen.push(steps);
        // The loopback listener answered the browser itself.
        expect(await page.locator('h1').innerText()).toBe('Signed in');
        await page.close();
      },
    });
    try {
      expect(seen).toEqual([['idp-login', 'consent', 'callback']]);
      const who = await session.run((c) => c.callTool({ name: 'whoami', arguments: {} }));
      expect(who.structuredContent).toMatchObject({ subject: 'alice', issuer: t.idp.issuer });
    } finally {
      await session.close();
    }

    // The same browser (its AS session cookie) opens the account page: the grant is listed by client name.
    const page = await context.newPage();
    const res = await page.goto(`${t.issuer}/account`);
    expect(res?.status()).toBe(200);
    expect(res?.headers()['content-security-policy']).toContain("default-src 'none'");
    await shot(page, shots, 'account-with-grant');
    const item = page.locator('li', { hasText: 'mcprt CLI' });
    expect(await item.count()).toBe(1);
    expect(await item.innerText()).toContain('tools:whoami');
    await Promise.all([page.waitForEvent('framenavigated'), item.locator('button', { hasText: 'Revoke' }).click()]);
    await page.waitForLoadState('load');
    await shot(page, shots, 'account-after-revoke');
    expect(page.url()).toBe(`${t.issuer}/account`);
    expect(await page.locator('main').innerText()).toContain('No apps yet.');

    // Revoked means revoked: the cached refresh token is dead at the token endpoint.
    const store = TokenStore.open(configDir);
    const cached = store.tokens(t.mcpUrl, 'alice')!;
    const refresh = await fetch(`${t.issuer}/token`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: cached.refresh_token!, client_id: store.client(t.mcpUrl)!.client_id }).toString(),
    });
    expect(refresh.status).toBe(400);
    expect(((await refresh.json()) as { error: string }).error).toBe('invalid_grant');
    await context.close();
    expect(shots.files.length).toBeGreaterThanOrEqual(5);
  });

  it('consent denied in the browser → the client gets access_denied at its redirect, no tokens are stored', async () => {
    const context = await browser.newContext();
    const configDir = mkdtempSync(join(tmpdir(), 'mcprt-browser-'));
    await expect(
      openOAuthSession({
        url: new URL(t.mcpUrl),
        user: 'bob',
        configDir,
        timeoutMs: 60_000,
        onAuthorizationUrl: async (url) => {
          const { steps } = await signInInBrowser(context, url, {
            account: 'bob',
            consent: 'deny',
            stopAt: url.searchParams.get('redirect_uri')!,
            shots,
            label: 'bob-deny',
          });
          expect(steps).toEqual(['idp-login', 'consent', 'callback']);
        },
      }),
    ).rejects.toMatchObject({ code: 'access_denied' });
    expect(TokenStore.open(configDir).tokens(t.mcpUrl, 'bob')).toBeUndefined();
    await context.close();
  });
});

describe('discovery documents a browser-based MCP client (the Inspector) reads cross-origin', () => {
  it('the protected-resource metadata and the AS metadata answer CORS (preflight included); the MCP endpoint still refuses a foreign Origin', async () => {
    const origin = 'http://localhost:6274';
    const prm = `${s.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${t.slug}/mcp`;
    const pre = await fetch(prm, {
      method: 'OPTIONS',
      headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'mcp-protocol-version' },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe('*');
    expect(pre.headers.get('access-control-allow-headers')).toContain('mcp-protocol-version');
    const get = await fetch(prm, { headers: { origin, 'mcp-protocol-version': '2026-07-28' } });
    expect(get.status).toBe(200);
    expect(get.headers.get('access-control-allow-origin')).toBe('*');
    const asMeta = await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-authorization-server/t/${t.slug}`, { headers: { origin } });
    expect(asMeta.headers.get('access-control-allow-origin')).toBe(origin);
    // DNS-rebinding protection of the MCP endpoint is unchanged (ALLOWED_ORIGINS opts an origin in).
    const mcp = await fetch(t.mcpUrl, { method: 'POST', headers: { origin, 'content-type': 'application/json' }, body: '{}' });
    expect(mcp.status).toBe(403);
  });
});
