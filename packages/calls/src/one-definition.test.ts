import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * The call id's shape and the set of pending states are each written once (call-id.ts,
 * call-states.ts); everything else imports them. These checks read every production source file of
 * apps/ and packages/ and fail when another copy appears.
 */
const root = fileURLToPath(new URL('../../..', import.meta.url));

function productionFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return ['node_modules', 'dist', 'migrations'].includes(e.name) ? [] : productionFiles(p);
    return /\.(ts|mts|js|mjs)$/.test(e.name) && !/\.test\.ts$/.test(e.name) ? [p] : [];
  });
}

const sources = ['apps', 'packages'].flatMap((d) => productionFiles(join(root, d))).map((p) => ({ path: relative(root, p), text: readFileSync(p, 'utf8') }));

const offenders = (pattern: RegExp, home: string) => sources.filter((f) => f.path !== home && pattern.test(f.text)).map((f) => f.path);

describe('one definition each', () => {
  it('reads the tree', () => {
    expect(sources.some((f) => f.path === 'packages/calls/src/call-id.ts')).toBe(true);
    expect(sources.length).toBeGreaterThan(50);
  });

  it('the call-id pattern is written only in packages/calls/src/call-id.ts', () => {
    // A regular expression (or its source text) for `call_` followed by a character class.
    expect(offenders(/call_\\?\[/, 'packages/calls/src/call-id.ts')).toEqual([]);
  });

  it('the pending states are listed only in packages/calls/src/call-states.ts', () => {
    expect(offenders(/['"`]queued['"`]\s*,\s*['"`]running['"`]/, 'packages/calls/src/call-states.ts')).toEqual([]);
  });
});
