// `pnpm build`: compile every app and package (apps/*, packages/*) from src/ to dist/ with tsc, for
// the production image, which runs `node --conditions=mcprt-dist apps/<app>/dist/main.js` (no tsx, no
// dev dependencies). Each workspace package exports its TypeScript sources by default (tsx, vitest and
// tsc use them) and its compiled dist/ under the `mcprt-dist` condition; a package without that
// export or without a tsconfig.build.json would be silently left out of the image, so it fails here.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));
const dirs = ['apps', 'packages'].flatMap((group) =>
  readdirSync(join(root, group), { withFileTypes: true })
    .filter((e) => e.isDirectory() && existsSync(join(root, group, e.name, 'package.json')))
    .map((e) => join(group, e.name)),
);

const problems = [];
for (const dir of dirs) {
  const pkg = JSON.parse(readFileSync(join(root, dir, 'package.json'), 'utf8'));
  const dot = pkg.exports?.['.'];
  if (typeof dot !== 'object' || dot['mcprt-dist'] !== './dist/index.js' || dot.default !== './src/index.ts') {
    problems.push(`${dir}/package.json: exports["."] must be { "mcprt-dist": "./dist/index.js", "default": "./src/index.ts" }`);
  }
  if (!Array.isArray(pkg.files) || !pkg.files.includes('dist')) problems.push(`${dir}/package.json: "files" must list "dist" (pnpm deploy copies only those)`);
  if (!existsSync(join(root, dir, 'tsconfig.build.json'))) problems.push(`${dir}/tsconfig.build.json is missing (copy one from packages/config)`);
}
if (problems.length) {
  console.error(`pnpm build: not every workspace package is buildable:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
  process.exit(1);
}

for (const dir of dirs) rmSync(join(root, dir, 'dist'), { recursive: true, force: true });
const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
const run = spawnSync(process.execPath, [tsc, '-b', ...dirs.map((d) => join(d, 'tsconfig.build.json'))], { cwd: root, stdio: 'inherit' });
if (run.status !== 0) process.exit(run.status ?? 1);
console.log(`pnpm build: compiled ${dirs.length} packages to dist/ (${dirs.join(', ')})`);
