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

/** Every kind of secret the processes hold, logged the ways a mistake would log it. */
describe('logger redaction of configuration secrets', () => {
  const SEAL = 'k1:c2VhbC1rZXktYnl0ZXMtdGhhdC1tdXN0LW5ldmVyLWxlYWs';
  const SCAVIO = 'sk_live_scavio_secret_123';
  const DB_PASS = 'pg-pass-s3cret';
  const REDIS_PASS = 'redis-pass-s3cret';
  const CLIENT_SECRET = 'idp-client-secret-xyz';
  const TOKEN = 'opaque-upstream-token-abc';
  const SECRETS = [SEAL, 'c2VhbC1rZXktYnl0ZXM', SCAVIO, DB_PASS, REDIS_PASS, CLIENT_SECRET, TOKEN];
  const config = {
    PORT: 3000,
    DATABASE_URL: `postgres://mcprt_app:${DB_PASS}@db.internal:5432/mcprt`,
    REDIS_URL: `redis://default:${REDIS_PASS}@redis.internal:6379`,
    SEAL_KEYS: SEAL,
    SCAVIO_API_KEY: SCAVIO,
  };
  const noSecret = (out: string) => {
    for (const s of SECRETS) expect(out, `leaked ${s}`).not.toContain(s);
  };

  it('a config object logged at start-up, nested or as the whole line', () => {
    const { lines, log } = capture();
    log.info({ config }, 'starting');
    log.info(config, 'starting again');
    const out = lines.join('');
    noSecret(out);
    expect(out).toContain('[REDACTED]');
    // The non-secret parts of a connection URL stay readable.
    expect(out).toContain('db.internal:5432');
    expect(out).toContain('redis.internal:6379');
  });

  it('an error carrying a connection URL with a password, in its message, a field and its cause', () => {
    const { lines, log } = capture();
    const cause = new Error(`connect ECONNREFUSED redis://default:${REDIS_PASS}@redis.internal:6379`);
    const err = Object.assign(new Error(`could not connect to postgres://mcprt_app:${DB_PASS}@db.internal/mcprt`, { cause }), {
      connectionString: `postgres://mcprt_app:${DB_PASS}@db.internal/mcprt`,
      detail: `url postgres://x:${DB_PASS}@h/db`,
    });
    log.error({ err }, 'database down');
    log.error(err);
    log.warn(`retrying postgres://mcprt_app:${DB_PASS}@db.internal/mcprt`);
    const out = lines.join('');
    noSecret(out);
    expect(out).toContain('db.internal');
  });

  it('Authorization headers, token fields and IdP client secrets', () => {
    const { lines, log } = capture();
    log.info({ request: { headers: { Authorization: `Basic ${TOKEN}`, 'x-api-key': SCAVIO } } }, 'outbound');
    log.info({ headers: { authorization: `Bearer ${TOKEN}`, cookie: `sid=${TOKEN}` } }, 'inbound');
    log.info({ idp: { client_id: 'mcprt', client_secret: CLIENT_SECRET }, clientSecret: CLIENT_SECRET }, 'idp');
    log.info({ upstream: { token: TOKEN }, access_token: TOKEN, apiKey: SCAVIO }, 'fields');
    const out = lines.join('');
    noSecret(out);
    expect(out).toContain('mcprt'); // the client id is not a secret
  });

  it('in child bindings, arrays and deeper objects, leaving the logged objects themselves untouched', () => {
    const { lines, log } = capture();
    const job = { data: { call: { token: TOKEN } }, attempts: [{ headers: { authorization: `Bearer ${TOKEN}` } }] };
    log.child({ config }).info({ job }, 'child');
    const out = lines.join('');
    noSecret(out);
    expect(job.data.call.token).toBe(TOKEN);
    expect(config.SEAL_KEYS).toBe(SEAL);
  });
});
