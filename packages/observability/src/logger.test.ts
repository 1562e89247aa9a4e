import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from './logger.js';

function capture() {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk, _enc, cb) {
      lines.push(String(chunk));
      cb();
    },
  });
  return { lines, log: createLogger({ name: 't', destination }) };
}

describe('logger redaction', () => {
  it('blanks token fields at any depth we know of', () => {
    const { lines, log } = capture();
    log.info({ accessToken: 'AT-SECRET', job: { sealed: 'v1.k.x', refresh_token: 'RT-SECRET' }, req: { headers: { authorization: 'Bearer ABC' } } }, 'hello');
    const out = lines.join('');
    expect(out).not.toMatch(/AT-SECRET|RT-SECRET|v1\.k\.x|Bearer ABC/);
    expect(out).toContain('[REDACTED]');
  });

  it('masks bearer tokens and JWTs in messages and errors', () => {
    const { lines, log } = capture();
    const jwt = 'eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXZhbHVl';
    log.warn(`upstream said Bearer abc.def and ${jwt}`);
    log.error({ err: new Error(`failed with ${jwt}`) }, 'boom');
    const out = lines.join('');
    expect(out).not.toContain('abc.def');
    expect(out).not.toContain(jwt);
  });
});
