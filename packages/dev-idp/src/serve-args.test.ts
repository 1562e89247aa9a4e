import { describe, expect, it } from 'vitest';

import { parseServeArgs } from './serve-args.js';

describe('parseServeArgs', () => {
  it('defaults to 127.0.0.1:4000', () => {
    expect(parseServeArgs([])).toEqual({ port: 4000, host: '127.0.0.1' });
  });

  it('reads --port and --host', () => {
    expect(parseServeArgs(['--port', '0', '--host', 'localhost'])).toEqual({ port: 0, host: 'localhost' });
    expect(parseServeArgs(['--port=4100'])).toEqual({ port: 4100, host: '127.0.0.1' });
  });

  it('refuses a bad port or an unknown flag', () => {
    expect(() => parseServeArgs(['--port', 'abc'])).toThrow(/--port/);
    expect(() => parseServeArgs(['--port', '70000'])).toThrow(/--port/);
    expect(() => parseServeArgs(['--verbose'])).toThrow();
  });
});
