import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runDemo } from '../demo/demo.js';
import { artifactsDir, launchChromium, type Shots } from './harness/chromium.js';
import { startStack } from './harness/stack.js';

/**
 * `pnpm demo`'s core (test/demo/demo.ts) against a test stack: a built-in tenant like `pnpm start`'s
 * `dev`, the Scavio double, headless chromium. So the demo cannot rot: if it stops exiting 0 after
 * the quick start, this fails. (test/demo/main.ts adds only reading .env and launching chromium.)
 */
type Stack = Awaited<ReturnType<typeof startStack>>;
let s: Stack;
let t: Stack;
let browser: Browser;
const shots: Shots = { dir: artifactsDir('demo-test'), files: [] };

beforeAll(async () => {
  browser = await launchChromium();
  s = await startStack({ label: 'demo' });
  t = s;
});

afterAll(async () => {
  await browser?.close();
  await t?.idp.close();
  await s?.close();
  console.log(`demo screenshots (${shots.files.length}): ${shots.dir}`);
});

describe('pnpm demo', () => {
  it('alice and bob sign in in chromium, call whoami and web_search, meet the step-up (alice allows, bob denies then allows); per-user calls and audit', async () => {
    const lines: string[] = [];
    const result = await runDemo({ mcpUrl: t.mcpUrl, browser, out: (l) => lines.push(l), shots });
    const text = lines.join('\n');
    console.log(text);
    const [alice, bob] = result.users;
    expect(alice).toMatchObject({ account: 'alice', whoami: { subject: 'alice', email: 'alice@example.test' }, stepUps: 1, denied: false });
    expect(bob).toMatchObject({ account: 'bob', whoami: { subject: 'bob', email: 'bob@example.test' }, stepUps: 1, denied: true });
    for (const u of [alice!, bob!]) {
      expect(u.searchResults).toBeGreaterThan(0);
      // Each user's own calls, as the REST API shows them to that user: whoami then web_search, both done.
      expect(u.restHistory.map((c) => [c.tool, c.status])).toEqual([
        ['whoami', 'succeeded'],
        ['web_search', 'succeeded'],
      ]);
      const actions = u.audit.map((a) => `${a.action}:${a.decision}:${a.tool ?? ''}`);
      expect(actions).toContain('user.signed_in:info:');
      expect(actions).toContain('tool_call.refused:deny:web_search');
      expect(actions.filter((a) => a.startsWith('tool_call.accepted:allow:')).length).toBe(2);
      // Nobody else's rows.
      expect(u.audit.every((a) => a.userId === u.userId)).toBe(true);
    }
    expect(alice!.userId).not.toBe(bob!.userId);
    // Bob asked for the step-up twice (deny, then allow): two refusals on the way.
    expect(bob!.audit.filter((a) => a.action === 'tool_call.refused').length).toBeGreaterThanOrEqual(2);
    expect(result.crossUserStatus).toBe(404);
    expect(text).toContain('DENIED');
    expect(text).toMatch(/alice: history[\s\S]*bob: history/);
    expect(shots.files.some((f) => f.includes('bob-step-up-consent'))).toBe(true);
  });
});
