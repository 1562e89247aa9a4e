import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * The development IdP must never be loaded by production code: the CLI reaches it only through a
 * dynamic import in its `dev` commands (`src/dev-idp.ts`), and the API and the worker not at all. This
 * walks the static import graph (type-only imports are erased, dynamic imports do not count) from each
 * production entry point, through the workspace packages, and names the chain that reaches it.
 */

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** Workspace package name → its directory (apps/*, packages/*). */
const workspace = new Map<string, string>();
for (const group of ['apps', 'packages']) {
  for (const entry of readdirSync(join(root, group), { withFileTypes: true })) {
    const manifest = join(root, group, entry.name, 'package.json');
    if (entry.isDirectory() && existsSync(manifest)) workspace.set(JSON.parse(readFileSync(manifest, 'utf8')).name, join(root, group, entry.name));
  }
}

/** The TypeScript file a specifier names, or the bare package name for anything outside the workspace. */
function resolveSpecifier(from: string, specifier: string): { file?: string; external?: string } {
  if (specifier.startsWith('.')) {
    const base = resolve(dirname(from), specifier).replace(/\.js$/, '');
    const file = [`${base}.ts`, join(base, 'index.ts')].find((f) => existsSync(f));
    if (!file) throw new Error(`${relative(root, from)}: cannot resolve ${specifier}`);
    return { file };
  }
  const [scopeOrName, maybeName, ...sub] = specifier.split('/');
  const name = scopeOrName!.startsWith('@') ? `${scopeOrName}/${maybeName}` : scopeOrName!;
  const dir = workspace.get(name);
  if (!dir) return { external: name };
  if (sub.length > 0 || (!scopeOrName!.startsWith('@') && maybeName)) throw new Error(`${specifier}: subpath imports of workspace packages are not followed`);
  return { file: join(dir, 'src/index.ts') };
}

/** Specifiers of the imports and re-exports that remain at run time. */
function staticImports(file: string): string[] {
  const source = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, false, ts.ScriptKind.TS);
  const specifiers: string[] = [];
  for (const statement of source.statements) {
    if (ts.isImportDeclaration(statement) && !statement.importClause?.isTypeOnly && ts.isStringLiteral(statement.moduleSpecifier)) {
      specifiers.push(statement.moduleSpecifier.text);
    } else if (ts.isExportDeclaration(statement) && !statement.isTypeOnly && statement.moduleSpecifier && ts.isStringLiteral(statement.moduleSpecifier)) {
      specifiers.push(statement.moduleSpecifier.text);
    }
  }
  return specifiers;
}

/** Every package reached from `entry`, each with the chain of files that reached it first. */
function reachablePackages(entry: string): Map<string, string[]> {
  const packages = new Map<string, string[]>();
  const seen = new Set<string>();
  const queue: { file: string; chain: string[] }[] = [{ file: entry, chain: [relative(root, entry)] }];
  for (let item = queue.shift(); item; item = queue.shift()) {
    if (seen.has(item.file)) continue;
    seen.add(item.file);
    for (const specifier of staticImports(item.file)) {
      const { file, external } = resolveSpecifier(item.file, specifier);
      const name = external ?? (specifier.startsWith('.') ? undefined : specifier);
      if (name && !packages.has(name)) packages.set(name, [...item.chain, specifier]);
      if (file) queue.push({ file, chain: [...item.chain, relative(root, file)] });
    }
  }
  return packages;
}

describe('production import graph', () => {
  const entries = ['apps/cli/src/main.ts', 'apps/cli/src/index.ts', 'apps/api/src/main.ts', 'apps/worker/src/main.ts'];

  it.each(entries)('%s does not load the development IdP', (entry) => {
    const reached = reachablePackages(join(root, entry));
    expect(reached.has('@mcprt/db')).toBe(true); // the walk follows the entry's imports into the packages
    expect(reached.get('@mcprt/dev-idp'), 'reached through').toBeUndefined();
  });

  it('tells a static import (found, with its chain) from a type-only or dynamic one (not loaded at start)', () => {
    const dir = mkdtempSync(join(tmpdir(), 'imports-'));
    writeFileSync(
      join(dir, 'entry.ts'),
      "import type { DevIdp } from '@mcprt/dev-idp';\nexport { helper } from './helper.js';\nexport const load = () => import('@mcprt/dev-idp');\n",
    );
    writeFileSync(join(dir, 'helper.ts'), "import { startDevIdp } from '@mcprt/dev-idp';\nexport const helper = startDevIdp;\n");
    writeFileSync(join(dir, 'type-only.ts'), "import type { DevIdp } from '@mcprt/dev-idp';\nexport const load = () => import('@mcprt/dev-idp');\n");
    expect(reachablePackages(join(dir, 'entry.ts')).get('@mcprt/dev-idp')?.slice(-2)).toEqual([relative(root, join(dir, 'helper.ts')), '@mcprt/dev-idp']);
    expect(reachablePackages(join(dir, 'type-only.ts')).has('@mcprt/dev-idp')).toBe(false);
    expect(readFileSync(join(root, 'apps/cli/src/dev-idp.ts'), 'utf8')).toContain("await import('@mcprt/dev-idp')");
  });

  it('keeps the development IdP out of the CLI production dependencies', () => {
    const manifest = JSON.parse(readFileSync(join(root, 'apps/cli/package.json'), 'utf8'));
    expect(manifest.dependencies).not.toHaveProperty('@mcprt/dev-idp');
    expect(manifest.devDependencies).toHaveProperty('@mcprt/dev-idp');
  });
});
