import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { formatScopes, isScopeString, parseScopes, unionScopes } from './scopes.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const HOME = 'packages/policy/src/scopes.ts';

/** Production sources: `src/` of every app and package, without tests. */
function productionFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory()) {
        if (e.name !== 'node_modules' && e.name !== 'dist') walk(p);
      } else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const top of ['apps', 'packages'])
    for (const e of readdirSync(join(ROOT, top), { withFileTypes: true })) {
      if (!e.isDirectory()) continue;
      try {
        walk(join(ROOT, top, e.name, 'src'));
      } catch {
        // a folder without src/
      }
    }
  return out;
}

/**
 * A scope splitter: a `.split(` with "scope" on its line or the two lines before it (a chained call
 * on a scope value), a function named like one, or the space-or-comma pattern itself.
 */
function splitters(source: string): number[] {
  const lines = source.split('\n');
  const found: number[] = [];
  lines.forEach((line, i) => {
    const near = lines.slice(Math.max(0, i - 2), i + 1).join('\n');
    if (/\.split\(/.test(line) && /scope/i.test(near)) found.push(i + 1);
    else if (/(function|const|let)\s+\w*split\w*scope/i.test(line) || line.includes('[\\s,]+')) found.push(i + 1);
  });
  return found;
}

describe('scope strings are read and written in one place', () => {
  it('no production file but scopes.ts splits a scope string', () => {
    const offenders = productionFiles()
      .map((f) => ({ file: relative(ROOT, f), lines: splitters(readFileSync(f, 'utf8')) }))
      .filter((o) => o.file !== HOME && o.lines.length > 0)
      .map((o) => `${o.file}:${o.lines.join(',')}`);
    expect(offenders, 'use parseScopes / formatScopes from @mcprt/policy').toEqual([]);
  });

  it('the check sees a splitter when there is one', () => {
    expect(splitters("const s = token.scope.split(' ');")).toEqual([1]);
    expect(splitters("const granted = header\n  .map(String)\n  .split(',');\n// scopes")).toEqual([]);
    expect(splitters("const scopes = value\n  .split(',')")).toEqual([2]);
    expect(splitters('const splitScopes = (s: string) => s;')).toEqual([1]);
    expect(splitters("const tools = names.split(',');")).toEqual([]);
  });

  it('parses OAuth (space), operator (comma) and GitHub (either) lists; formats and merges them', () => {
    expect(parseScopes('openid  email\tprofile')).toEqual(['openid', 'email', 'profile']);
    expect(parseScopes(' repo, user ', 'comma')).toEqual(['repo', 'user']);
    expect(parseScopes('repo,read:user repo', 'space-or-comma')).toEqual(['repo', 'read:user', 'repo']);
    expect(parseScopes(undefined)).toEqual([]);
    expect(parseScopes(null, 'comma')).toEqual([]);
    expect(formatScopes(['a', 'b'])).toBe('a b');
    expect(formatScopes(['a', 'b'], 'comma')).toBe('a,b');
    expect(unionScopes(['a', 'b'], [], ['b', 'c'])).toEqual(['a', 'b', 'c']);
  });

  it('checks the scope grammar (RFC 6749 §3.3) with optional bounds', () => {
    expect(isScopeString('read:user repo')).toBe(true);
    expect(isScopeString('')).toBe(false);
    expect(isScopeString('', { allowEmpty: true })).toBe(true);
    expect(isScopeString('repo "x"')).toBe(false);
    expect(isScopeString('a  b')).toBe(false);
    expect(isScopeString('a b c', { maxTokens: 2 })).toBe(false);
    expect(isScopeString('abc', { maxTokenLength: 2 })).toBe(false);
  });
});
