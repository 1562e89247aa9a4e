import { createRemoteJWKSet, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { startDevIdp } from './dev-idp.js';
import type { DevIdp } from './dev-idp.js';

const AUDIENCE = 'http://127.0.0.1:3000/t/acme/mcp';

interface MintResponse {
  access_token: string;
  token_type: string;
  upstream: { access_token: string; refresh_token?: string; expires_at: string; scope: string };
}

describe('POST /dev/mint', () => {
  let idp: DevIdp;

  beforeAll(async () => {
    idp = await startDevIdp();
  });
  afterAll(() => idp.close());

  const mint = (body: string, contentType = 'application/json', method = 'POST'): Promise<Response> =>
    fetch(`${idp.issuer}/dev/mint`, {
      method,
      headers: { 'content-type': contentType },
      ...(method === 'GET' ? {} : { body }),
    });

  it('returns a resource-server JWT and an upstream token for the account', async () => {
    const res = await mint(JSON.stringify({ sub: 'bob', audience: AUDIENCE, scope: 'tools:search' }));
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    const body = (await res.json()) as MintResponse;

    const { payload } = await jwtVerify(body.access_token, createRemoteJWKSet(new URL(idp.jwksUri)), {
      issuer: idp.issuer,
      audience: AUDIENCE,
    });
    expect(payload).toMatchObject({ sub: 'bob', scope: 'tools:search' });

    expect(body.upstream.scope).toBe('openid email profile');
    expect(typeof body.upstream.refresh_token).toBe('string');
    expect(new Date(body.upstream.expires_at).getTime()).toBeGreaterThan(Date.now());
    const me = await fetch(idp.userinfoEndpoint, {
      headers: { authorization: `Bearer ${body.upstream.access_token}` },
    });
    expect(((await me.json()) as { email: string }).email).toBe('bob@example.test');
  });

  it('takes an upstream_scope', async () => {
    const res = await mint(JSON.stringify({ sub: 'alice', audience: AUDIENCE, scope: 'a', upstream_scope: 'openid email' }));
    expect(((await res.json()) as MintResponse).upstream.scope).toBe('openid email');
  });

  it.each([
    ['an unknown sub', { sub: 'mallory', audience: AUDIENCE, scope: 'a' }, /unknown sub/],
    ['a missing sub', { audience: AUDIENCE, scope: 'a' }, /sub/],
    ['a relative audience', { sub: 'alice', audience: '/t/acme/mcp', scope: 'a' }, /audience/],
    ['a non-string scope', { sub: 'alice', audience: AUDIENCE, scope: ['a'] }, /scope/],
    ['an unknown field', { sub: 'alice', audience: AUDIENCE, scope: 'a', ttl: 5 }, /unknown fields: ttl/],
    ['an array body', [], /JSON object/],
  ])('rejects %s with 400 invalid_request', async (_name, body, message) => {
    const res = await mint(JSON.stringify(body));
    expect(res.status).toBe(400);
    const json = (await res.json()) as { error: string; error_description: string };
    expect(json.error).toBe('invalid_request');
    expect(json.error_description).toMatch(message);
  });

  it('rejects a body that is not JSON', async () => {
    expect((await mint('{sub:')).status).toBe(400);
    expect((await mint('sub=alice', 'application/x-www-form-urlencoded')).status).toBe(415);
  });

  it('rejects a body over 16 KiB', async () => {
    const res = await mint(JSON.stringify({ sub: 'alice', audience: AUDIENCE, scope: 'a'.repeat(200_000) }));
    expect(res.status).toBe(413);
  });

  it('answers other methods with 405', async () => {
    const res = await mint('', 'application/json', 'GET');
    expect(res.status).toBe(405);
    expect(res.headers.get('allow')).toBe('POST');
  });
});
