import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, expect, it } from 'vitest';

const SRC = join(import.meta.dirname, '..');

/** The renderers: the only files that may write an error status or body. */
const RENDERERS = new Set(['http/render-error.ts']);

/** What writing an error answer by hand looks like. */
const HAND_WRITTEN = [
  /\.body\s*=\s*\{\s*['"]?(error|jsonrpc)['"]?\s*:/,
  /\.body\s*=\s*errorPage\(/,
  /\bctx\.status\s*=\s*[45]\d\d\b/,
  /new ProtocolError\(\s*(ProtocolErrorCode\.InternalError|-32603|-32053)/,
];

function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts')) out.push(path);
  }
  return out;
}

describe('error answers', () => {
  it('are written only by the renderers (http/render-error.ts), never by hand in a route', () => {
    const found: string[] = [];
    for (const file of sources(SRC)) {
      const rel = relative(SRC, file);
      if (RENDERERS.has(rel)) continue;
      readFileSync(file, 'utf8')
        .split('\n')
        .forEach((line, i) => {
          if (HAND_WRITTEN.some((p) => p.test(line))) found.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(found).toEqual([]);
  });
});
