/**
 * `pnpm demo`: run after the quick start (`pnpm start` in another terminal). Reads .env (PUBLIC_URL)
 * like the CLI, checks the API answers, launches headless chromium and runs the demo
 * (test/demo/demo.ts) against the `dev` tenant. Screenshots of every page go to test/artifacts/demo/.
 *   pnpm demo [--url http://127.0.0.1:3000/t/dev/mcp]
 */
import { existsSync, rmSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { artifactsDir, launchChromium, type Shots } from '../src/harness/chromium.js';
import { runDemo } from './demo.js';

async function main(): Promise<number> {
  if (existsSync('.env')) process.loadEnvFile('.env');
  const { values } = parseArgs({ options: { url: { type: 'string' } } });
  const publicUrl = process.env.PUBLIC_URL ?? 'http://127.0.0.1:3000';
  const mcpUrl = values.url ?? `${publicUrl}/t/dev/mcp`;
  const ready = await fetch(new URL('/readyz', mcpUrl)).then(
    (r) => r.ok,
    () => false,
  );
  if (!ready) {
    process.stderr.write(
      `the API at ${new URL('/', mcpUrl).href} is not answering: start it with \`npx --yes pnpm@12.4.2 start\` (another terminal), then run \`npx --yes pnpm@12.4.2 demo\`\n`,
    );
    return 1;
  }
  const dir = artifactsDir('demo');
  rmSync(dir, { recursive: true, force: true });
  const shots: Shots = { dir: artifactsDir('demo'), files: [] };
  const browser = await launchChromium();
  try {
    const result = await runDemo({ mcpUrl, browser, out: (l) => process.stdout.write(`${l}\n`), shots });
    process.stdout.write(`\nscreenshots of the pages (${shots.files.length}): ${shots.dir}\n`);
    const ok = result.users.every((u) => u.searchResults > 0 && u.whoami.subject === u.account) && result.crossUserStatus === 404;
    return ok ? 0 : 1;
  } finally {
    await browser.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`demo failed: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exit(1);
  },
);
