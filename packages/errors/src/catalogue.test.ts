import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AppError } from './app-error.js';
import { appError, ERRORS, errorSpec } from './catalogue.js';

const ROOT = join(import.meta.dirname, '../../..');

/** Production TypeScript under apps/ and packages/ (no tests, no build output). */
function sources(dir: string, out: string[] = []): string[] {
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name === 'dist') continue;
    const path = join(dir, name);
    if (statSync(path).isDirectory()) sources(path, out);
    else if (name.endsWith('.ts') && !name.endsWith('.test.ts') && !name.endsWith('.d.ts')) out.push(path);
  }
  return out;
}

describe('the error catalogue', () => {
  it('lists every code thrown with a literal code, with the kind it is thrown with', () => {
    const files = [...sources(join(ROOT, 'apps')), ...sources(join(ROOT, 'packages'))];
    const problems: string[] = [];
    for (const file of files) {
      const text = readFileSync(file, 'utf8');
      for (const m of text.matchAll(/new AppError\(\s*'([a-z_]+)',\s*'([a-z_]+)'/g)) {
        const [, kind, code] = m;
        const s = (ERRORS as Record<string, { kind: string }>)[code!];
        if (!s) problems.push(`${file.slice(ROOT.length + 1)}: ${code} is not in the catalogue`);
        else if (s.kind !== kind) problems.push(`${file.slice(ROOT.length + 1)}: ${code} thrown as ${kind}, catalogued as ${s.kind}`);
      }
      for (const m of text.matchAll(/\bappError\(\s*'([a-z_]+)'/g)) {
        if (!(m[1]! in ERRORS)) problems.push(`${file.slice(ROOT.length + 1)}: appError('${m[1]}') is not in the catalogue`);
      }
    }
    expect(problems).toEqual([]);
  });

  it('gives each code a status of its kind, a message, and internal errors no retry', () => {
    for (const [code, s] of Object.entries(ERRORS)) {
      expect(s.status, code).toBeGreaterThanOrEqual(400);
      expect(s.message.length, code).toBeGreaterThan(0);
      if (s.kind === 'internal') expect(s.retryable, code).toBe(false);
      if (s.kind === 'unavailable') expect(s.status, code).toBe(503);
    }
  });

  it('builds an AppError from its code, with a more specific message when given', () => {
    const e = appError('call_final', 'the call has already succeeded', { details: { attached: { call: { id: 'x' } } } });
    expect(e).toBeInstanceOf(AppError);
    expect([e.kind, e.status, e.expose, e.retryable, e.message]).toEqual(['policy', 409, true, false, 'the call has already succeeded']);
    expect([appError('draining').retryable, appError('draining').expose]).toEqual([true, true]);
    expect(appError('internal_error').expose).toBe(false);
    expect(errorSpec('no_such_code')).toBe(ERRORS.internal_error);
  });
});
