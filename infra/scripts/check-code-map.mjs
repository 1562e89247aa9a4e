// `pnpm lint` runs this: the package maps a reader starts from must match the tree. The README's
// "Code map" (one line per app and package) and docs/architecture.md's "Packages" block each name
// every app and package that exists (apps/* and packages/* with a package.json), and nothing else.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../..', import.meta.url));

/** apps/<name> and packages/<name> directories that hold a package. */
function packagesInTree() {
  return ['apps', 'packages'].flatMap((group) =>
    readdirSync(join(root, group), { withFileTypes: true })
      .filter((e) => e.isDirectory() && existsSync(join(root, group, e.name, 'package.json')))
      .map((e) => `${group}/${e.name}`),
  );
}

/** The text of a Markdown section: from its heading to the next heading of the same or a higher level. */
function section(markdown, heading) {
  const lines = markdown.split('\n');
  const start = lines.findIndex((l) => l.trim() === heading);
  if (start < 0) return undefined;
  const level = heading.match(/^#+/)[0].length;
  const end = lines.findIndex((l, i) => i > start && /^#+ /.test(l) && l.match(/^#+/)[0].length <= level);
  return lines.slice(start + 1, end < 0 ? undefined : end).join('\n');
}

const PATH = /^(?:apps|packages)\/[a-z0-9-]+$/;

/** README: list items whose first code span is a package path. */
export function readmeMap(markdown) {
  const body = section(markdown, '## Code map');
  if (body === undefined) return undefined;
  return [...body.matchAll(/^[-*] `([^`]+)`/gm)].map((m) => m[1].replace(/\/$/, '')).filter((p) => PATH.test(p));
}

/** docs/architecture.md: the first fenced block of "Packages", one package path at the start of a line. */
export function architectureMap(markdown) {
  const body = section(markdown, '## Packages');
  const block = body?.match(/```[^\n]*\n([\s\S]*?)```/);
  if (!block) return undefined;
  return [...block[1].matchAll(/^((?:apps|packages)\/[a-z0-9-]+)\s/gm)].map((m) => m[1]);
}

/** What one map gets wrong against the tree. */
export function compare(where, named, tree) {
  if (named === undefined) return [`${where}: the map is missing`];
  const problems = [];
  for (const p of tree) if (!named.includes(p)) problems.push(`${where}: ${p} exists but is not named`);
  for (const p of named) if (!tree.includes(p)) problems.push(`${where}: ${p} is named but does not exist`);
  for (const p of new Set(named.filter((n, i) => named.indexOf(n) !== i))) problems.push(`${where}: ${p} is named twice`);
  return problems;
}

function selfTest() {
  const tree = ['apps/api', 'packages/db'];
  const readme = '# x\n\n## Code map\n\n- `apps/api` — the API\n- `packages/db` — the database\n- `test/` — tests\n\n## Next\n- `packages/old`\n';
  const arch = '## Packages\n\n```\napps/api   the API\npackages/db  the database\n```\n';
  const ok = compare('r', readmeMap(readme), tree).length === 0 && compare('a', architectureMap(arch), tree).length === 0;
  const missing = compare('r', readmeMap(readme), [...tree, 'packages/new']);
  const extra = compare('a', architectureMap(arch), ['apps/api']);
  return ok && missing.length === 1 && missing[0].includes('packages/new') && extra.length === 1 && extra[0].includes('packages/db');
}

function main() {
  if (!selfTest()) {
    console.error('check-code-map: the self-test failed (the map parsers are wrong)');
    process.exit(2);
  }
  const tree = packagesInTree();
  const problems = [
    ...compare('README.md "Code map"', readmeMap(readFileSync(join(root, 'README.md'), 'utf8')), tree),
    ...compare('docs/architecture.md "Packages"', architectureMap(readFileSync(join(root, 'docs/architecture.md'), 'utf8')), tree),
  ];
  if (problems.length) {
    console.error(`check-code-map: the maps and the tree disagree:\n${problems.map((p) => `  ${p}`).join('\n')}`);
    process.exit(1);
  }
  console.log(`check-code-map: ${tree.length} apps and packages, each named once in both maps`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) main();
