import { existsSync, mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

/**
 * A real browser for the sign-in pages: Debian's chromium (apt-get install chromium; `.ci/run` installs
 * it) driven by playwright-core. Playwright's own browser download cannot reach its host here, so
 * it runs the system binary; it gives every launch a fresh temporary profile (user data dir), and
 * each `newContext()` has its own cookies, so alice and bob never share a session.
 */
const CHROMIUM_PATH = '/usr/bin/chromium';

/** The flags a closed network needs: no background connections (nothing outside the test may be contacted). */
const CHROMIUM_ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

export async function launchChromium(): Promise<Browser> {
  if (!existsSync(CHROMIUM_PATH)) {
    throw new Error(`no browser at ${CHROMIUM_PATH}: install Debian's chromium (apt-get install -y chromium; .ci/run does it)`);
  }
  return chromium.launch({ executablePath: CHROMIUM_PATH, headless: true, args: CHROMIUM_ARGS, timeout: 60_000 });
}

/** Where screenshots go: `test/artifacts/<run>/` (gitignored), or MCPRT_ARTIFACTS_DIR. */
export function artifactsDir(run: string, base = process.env.MCPRT_ARTIFACTS_DIR): string {
  const root = base ?? resolve(dirname(fileURLToPath(import.meta.url)), '../../artifacts');
  const dir = join(root, run);
  mkdirSync(dir, { recursive: true });
  return dir;
}

export interface Shots {
  dir: string;
  /** Saved file paths, in order. */
  files: string[];
}

export async function shot(page: Page, shots: Shots | undefined, name: string): Promise<void> {
  if (!shots) return;
  const file = join(shots.dir, `${String(shots.files.length + 1).padStart(2, '0')}-${name}.png`);
  await page.screenshot({ path: file, fullPage: true });
  shots.files.push(file);
}

export interface BrowserSignIn {
  /** The dev IdP account to pick. */
  account: string;
  /** allow (default) or deny at the consent page. */
  consent?: 'allow' | 'deny';
  /** The client's redirect URI (prefix): the flow ends when the browser gets there. */
  stopAt: string;
  shots?: Shots;
  /** Label for screenshot names (default: the account). */
  label?: string;
}

/** Pages seen on the way, for assertions: `idp-login`, `consent`, `callback`. */
export type SignInStep = 'idp-login' | 'consent' | 'callback';

/**
 * Opens `url` (an authorization URL of a tenant's built-in AS) in a new tab of `context` and does what
 * a user does: picks the account at the dev IdP's login page, answers the consent page, until the
 * browser lands on the client's redirect URI (which a real listener answers). A context already
 * signed in skips the login page; a grant already consented skips the consent page.
 */
export async function signInInBrowser(
  context: BrowserContext,
  url: string | URL,
  o: BrowserSignIn,
): Promise<{ steps: SignInStep[]; finalUrl: URL; page: Page }> {
  const page = await context.newPage();
  const label = o.label ?? o.account;
  const steps: SignInStep[] = [];
  await page.goto(String(url), { waitUntil: 'load' });
  for (let i = 0; i < 8; i++) {
    const here = page.url();
    if (here.startsWith(o.stopAt)) {
      steps.push('callback');
      await shot(page, o.shots, `${label}-back-at-client`);
      return { steps, finalUrl: new URL(here), page };
    }
    const accountButton = page.locator(`button[name="account"][value="${o.account}"]`);
    const allow = page.locator('button[name="decision"][value="allow"]');
    let target;
    if ((await page.locator('h1', { hasText: 'Development IdP' }).count()) > 0) {
      steps.push('idp-login');
      await shot(page, o.shots, `${label}-idp-login`);
      target = accountButton;
    } else if ((await allow.count()) > 0) {
      steps.push('consent');
      await shot(page, o.shots, `${label}-consent`);
      target = o.consent === 'deny' ? page.locator('button[name="decision"][value="deny"]') : allow;
    } else {
      await shot(page, o.shots, `${label}-unexpected`);
      throw new Error(`unexpected page at ${here}: ${(await page.locator('body').innerText()).slice(0, 400)}`);
    }
    await Promise.all([page.waitForEvent('framenavigated', { timeout: 30_000 }), target.click()]);
    await page.waitForLoadState('load');
  }
  throw new Error(`sign-in did not reach ${o.stopAt}; last page ${page.url()}`);
}
