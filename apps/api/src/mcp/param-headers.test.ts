import { describe, expect, it } from 'vitest';
import { decodeParamHeader, paramHeaderProblem } from './param-headers.js';

describe('Mcp-Param-* values', () => {
  it.each([
    ['us-east1', 'us-east1'],
    ['  padded\t', 'padded'],
    ['=?base64??=', ''],
    [`=?base64?${Buffer.from('日本 ', 'utf8').toString('base64')}?=`, '日本 '],
    ['=?base64?SGVsbG8=', '=?base64?SGVsbG8='],
    ['SGVsbG8=', 'SGVsbG8='],
  ])('%j decodes to %j', (raw, value) => {
    expect(decodeParamHeader(raw)).toBe(value);
  });

  it.each(['=?base64?SGVsbG8?=', '=?base64?SGVs!!!bG8=?=', '=?base64?SGVsbG9=?=', '=?base64?//79?=', 'caf\u00e9', 'a\u0001b', 'a\tb'])(
    '%j is refused',
    (raw) => {
      expect(decodeParamHeader(raw)).toBeUndefined();
    },
  );
});

describe('headers against arguments', () => {
  const params = [
    { path: ['target', 'region'], name: 'Region', type: 'string' as const },
    { path: ['count'], name: 'Count', type: 'integer' as const },
  ];
  it('reads nested arguments, compares integers as numbers, and skips what is not a primitive', () => {
    expect(paramHeaderProblem(params, { target: { region: 'eu' }, count: 3 }, { 'mcp-param-region': 'eu', 'mcp-param-count': '3.0' })).toBeUndefined();
    expect(paramHeaderProblem(params, { target: { region: { x: 1 } } }, {})).toBeUndefined();
    expect(paramHeaderProblem(params, { target: { region: 'eu' } }, { 'mcp-param-region': 'us' })).toMatch(/does not match arguments\.target\.region/);
    expect(paramHeaderProblem(params, { count: 3 }, { 'mcp-param-count': '0x3' })).toMatch(/Count header does not match/);
  });

  it('refuses a header whose argument is null or absent, and one no argument declares', () => {
    expect(paramHeaderProblem(params, { count: null }, { 'mcp-param-count': '1' })).toMatch(/sent but arguments\.count is absent/);
    expect(paramHeaderProblem(params, {}, { 'mcp-param-regions': 'eu' })).toMatch(/mcp-param-regions header names no/);
    expect(paramHeaderProblem([], {}, { 'mcp-param-': 'x' })).toMatch(/names no/);
    expect(paramHeaderProblem([], { a: 1 }, { accept: 'x' })).toBeUndefined();
  });
});
