import { randomBytes } from 'node:crypto';
import { forTenant } from '@mcprt/calls';
import { apiKeysRepository, oidcStoreRepository, tenantsRepository, type User } from '@mcprt/db';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerClient, userToken } from './harness/as-token.js';
import { CookieJar } from './harness/browser.js';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { artifactsDir, launchChromium, shot, type Shots } from './harness/chromium.js';
import { createKey } from './harness/operator.js';
import { ALL_SCOPES, startStack, type Stack } from './harness/stack.js';
import { parseApiKey } from '@mcprt/identity';

/**
 * The admin console in a real browser (Debian's chromium, playwright-core): an operator of tenant A
 * signs in with an admin key, visits every page and acts (cancel a call, approve a held call, revoke a
 * grant, create and revoke a key, edit limits, verify the audit); tenant B's call is not found by URL and B's console
 * does not receive A's cookie. Then the end user's account page (recent calls, connected providers,
 * disconnect). Screenshots of every page: test/artifacts/admin-console/ (gitignored). The page's CSP
 * is strict: a blocked style or script would show as a console error, and none may appear.
 */
type B = Awaited<ReturnType<typeof startBuiltinTenant>>;
let s: Stack;
let b: B;
let browser: Browser;
let aliceA: User;
let jar: CookieJar;
const shots: Shots = { dir: artifactsDir('admin-console'), files: [] };
const consoleErrors: string[] = [];

async function insertCall(tenantId: string, userId: string, status: string, tool = 'echo'): Promise<string> {
  const id = `call_${randomBytes(16).toString('base64url').slice(0, 22)}`;
  await s.db.sql`insert into tool_calls (id, tenant_id, user_id, tool, arguments, status, started_at, finished_at)
    values (${id}, ${tenantId}, ${userId}, ${tool}, '{"text":"hello"}'::jsonb, ${status}::tool_call_status,
      case when ${status} <> 'queued' then now() end, case when ${status} in ('succeeded', 'failed') then now() end)`;
  return id;
}

async function clickAndLoad(page: Page, selector: ReturnType<Page['locator']>): Promise<void> {
  await Promise.all([page.waitForEvent('framenavigated', { timeout: 30_000 }), selector.click()]);
  await page.waitForLoadState('load');
}

async function newContext(): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  context.on('console', (m) => {
    if (m.type() === 'error') consoleErrors.push(m.text());
  });
  return context;
}

beforeAll(async () => {
  browser = await launchChromium();
  s = await startStack({ label: 'console-browser', worker: 'none' });
  b = await startBuiltinTenant(s, 'b', ['echo']);
  jar = new CookieJar();
  const client = await registerClient(s.issuer, 'Claude Desktop');
  await userToken({ issuer: s.issuer, mcpUrl: s.mcpUrl }, { clientId: client, account: 'alice', scope: ALL_SCOPES, jar });
  aliceA = (await s.scope.users.bySubject(s.idp.issuer, 'alice'))!;
  await s.vault.store(s.scope, aliceA.id, 'github', { accessToken: 'gho_alice', scopes: ['repo', 'read:user'] });
  await insertCall(s.tenant.id, aliceA.id, 'succeeded', 'whoami');
  await insertCall(s.tenant.id, aliceA.id, 'failed');
  await insertCall(s.tenant.id, aliceA.id, 'running', 'web_search');
}, 120_000);

afterAll(async () => {
  await browser?.close();
  await s?.close();
  console.log(`admin-console screenshots (${shots.files.length}): ${shots.dir}`);
});

describe('the admin console in chromium', () => {
  it('an operator of tenant A signs in, sees every page and acts; nothing of tenant B is reachable', async () => {
    const key = await createKey(s.db.db, s.tenant.id, ['admin', 'calls:approve'], 'ops team');
    const queued = await insertCall(s.tenant.id, aliceA.id, 'queued');
    const aliceB = await forTenant(s.db.db, b.tenant.id).users.upsert({ issuer: b.idp.issuer, subject: 'alice' });
    const callB = await insertCall(b.tenant.id, aliceB.id, 'queued');
    const base = `${s.config.PUBLIC_URL}/t/${s.slug}/admin`;
    const context = await newContext();
    const page = await context.newPage();

    await page.goto(`${base}/calls`);
    expect(page.url()).toBe(`${base}/login`);
    await shot(page, shots, 'sign-in');
    await page.fill('input[name="key"]', key.key);
    await clickAndLoad(page, page.locator('button', { hasText: 'Sign in' }));
    expect(page.url()).toBe(`${base}/calls`);
    const cookies = await context.cookies();
    expect(cookies.map((c) => c.value).join(' ')).not.toContain(parseApiKey(key.key)!.secret);
    expect(cookies.find((c) => c.name === `mcprt_op_${s.slug}`)).toMatchObject({ httpOnly: true, sameSite: 'Strict', path: `/t/${s.slug}/admin` });
    expect(await page.locator('main').innerText()).toContain(queued);
    await shot(page, shots, 'calls');

    await page.selectOption('select[name="status"]', 'queued');
    await clickAndLoad(page, page.locator('button', { hasText: 'Filter' }));
    expect(await page.locator('tbody tr').count()).toBe(1);
    await clickAndLoad(page, page.locator(`a[href$="/calls/${queued}"]`));
    await shot(page, shots, 'call');
    await clickAndLoad(page, page.locator('button', { hasText: 'Cancel this call' }));
    expect(await page.locator('[role="status"]').innerText()).toBe('Call cancelled.');
    expect(await page.locator('main').innerText()).toContain('tool_call.cancelled');
    await shot(page, shots, 'call-cancelled');

    await page.goto(`${base}/audit`);
    await clickAndLoad(page, page.locator('button', { hasText: 'Verify the whole trail' }));
    expect(await page.locator('[data-verify]').getAttribute('data-verify')).toBe('ok');
    await shot(page, shots, 'audit');

    await page.goto(`${base}/users`);
    expect(await page.locator('[data-provider="github"] [data-credential-status]').innerText()).toBe('active');
    await shot(page, shots, 'users');

    await page.goto(`${base}/clients`);
    expect(await page.locator('main').innerText()).toContain('Claude Desktop');
    await shot(page, shots, 'clients');
    await clickAndLoad(page, page.locator('table').first().locator('button', { hasText: 'Revoke' }));
    expect(await page.locator('[role="status"]').innerText()).toBe('Grant revoked.');
    expect(await oidcStoreRepository(s.db.db, s.tenant.id).ofModel('Grant', 10)).toHaveLength(0);
    const clientsBefore = (await oidcStoreRepository(s.db.db, s.tenant.id).ofModel('Client', 50)).length;
    await clickAndLoad(page, page.locator('table').last().locator('button', { hasText: 'Delete client' }).first());
    expect(await page.locator('[role="status"]').innerText()).toMatch(/^Client \S+ deleted with \d+ grant\(s\)\.$/);
    expect(await oidcStoreRepository(s.db.db, s.tenant.id).ofModel('Client', 50)).toHaveLength(clientsBefore - 1);

    await page.goto(`${base}/settings`);
    await page.fill('input[name="pendingCap"]', '9');
    await clickAndLoad(page, page.locator('button', { hasText: 'Save limits' }));
    expect(await page.locator('[role="status"]').innerText()).toBe('Limits saved.');
    expect((await tenantsRepository(s.db.db).byId(s.tenant.id))!.limits.pendingCap).toBe(9);
    await shot(page, shots, 'settings');

    await page.goto(`${base}/keys`);
    await page.fill('input[name="name"]', 'audit export job');
    await page.check('input[name="scope"][value="audit:read"]');
    await clickAndLoad(page, page.locator('button', { hasText: 'Create key' }));
    const created = await page.locator('[data-new-key]').innerText();
    expect(created).toMatch(/^mcprt_ak_/);
    await shot(page, shots, 'key-created');
    const newId = /^mcprt_ak_(ak[a-z2-7]{16})_/.exec(created)![1]!;
    await page.goto(`${base}/keys`);
    expect(await page.locator('main').innerText()).not.toContain(created);
    await clickAndLoad(page, page.locator('tr', { hasText: newId }).locator('button', { hasText: 'Revoke' }));
    expect((await apiKeysRepository(s.db.db, s.tenant.id).byId(newId))!.revokedAt).not.toBeNull();
    await shot(page, shots, 'keys');

    // A call a tenant approval rule holds: listed with its arguments escaped, approved from the page.
    const held = `call_${randomBytes(16).toString('base64url').slice(0, 22)}`;
    await s.db.sql`insert into tool_calls (id, tenant_id, user_id, tool, arguments, status, approver, args_hash, approval_expires_at)
      values (${held}, ${s.tenant.id}, ${aliceA.id}, 'echo', '{"message":"<img src=x onerror=alert(1)>"}'::jsonb, 'awaiting_approval', 'tenant', 'hash-1', now() + interval '15 minutes')`;
    await page.goto(`${base}/approvals`);
    expect(await page.locator('pre').first().innerText()).toContain('<img src=x onerror=alert(1)>');
    expect(await page.locator('img').count()).toBe(0);
    await shot(page, shots, 'approvals');
    await clickAndLoad(page, page.locator('tr', { hasText: held }).locator('button', { hasText: 'Approve' }));
    expect(await page.locator('[role="status"]').innerText()).toBe(`Call ${held} approved.`);
    expect(await s.db.sql`select status from tool_calls where id = ${held}`).toEqual([{ status: 'queued' }]);

    await page.goto(`${base}/queue`);
    await shot(page, shots, 'queue');

    // Tenant B: its call id is not found in A's console; B's console does not get A's cookie.
    const res = await page.goto(`${base}/calls/${callB}`);
    expect(res?.status()).toBe(404);
    await shot(page, shots, 'isolation-other-tenant-call');
    await page.goto(`${s.config.PUBLIC_URL}/t/${b.slug}/admin/calls`);
    expect(page.url()).toBe(`${s.config.PUBLIC_URL}/t/${b.slug}/admin/login`);
    expect(await s.db.sql`select status from tool_calls where id = ${callB}`).toEqual([{ status: 'queued' }]);
    await context.close();
    // The one deliberate 404 (tenant B's call) aside, nothing was refused: no CSP violation either.
    expect(consoleErrors.filter((e) => !e.includes('status of 404'))).toEqual([]);
  });

  it("the end user's account page: grants, recent calls, connected providers, disconnect", async () => {
    const client = await registerClient(s.issuer, 'Cursor');
    await userToken({ issuer: s.issuer, mcpUrl: s.mcpUrl }, { clientId: client, account: 'alice', scope: ALL_SCOPES, jar });
    const context = await newContext();
    const account = new URL(`${s.issuer}/account`);
    // The browser takes over the authorization-server session the sign-in above made.
    const pairs = jar.header(account).split('; ').filter(Boolean);
    await context.addCookies(pairs.map((p) => ({ name: p.slice(0, p.indexOf('=')), value: p.slice(p.indexOf('=') + 1), url: account.href })));
    const page = await context.newPage();
    await page.goto(account.href);
    const text = await page.locator('main').innerText();
    expect(text).toContain('Cursor');
    expect(text).toContain('Your recent calls');
    expect(await page.locator('[data-status="succeeded"]').count()).toBeGreaterThan(0);
    expect(await page.locator('tr[data-provider="github"] [data-credential-status]').innerText()).toBe('active');
    expect(await page.locator('tr[data-provider="github"] a').getAttribute('href')).toBe(`/t/${s.slug}/connect/github`);
    await shot(page, shots, 'account');
    await clickAndLoad(page, page.locator('tr[data-provider="github"] button', { hasText: 'Disconnect' }));
    expect(await page.locator('tr[data-provider="github"] [data-credential-status]').innerText()).toBe('revoked');
    expect((await s.scope.credentials.get(aliceA.id, 'github'))!.status).toBe('revoked');
    await shot(page, shots, 'account-disconnected');
    await context.close();
    // The one deliberate 404 (tenant B's call) aside, nothing was refused: no CSP violation either.
    expect(consoleErrors.filter((e) => !e.includes('status of 404'))).toEqual([]);
    expect(shots.files.length).toBeGreaterThanOrEqual(15);
  });
});
