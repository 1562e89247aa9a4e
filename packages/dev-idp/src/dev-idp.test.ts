import { createServer } from 'node:net';

import { createRemoteJWKSet, decodeJwt, errors as joseErrors, jwtVerify } from 'jose';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';

import { UnknownAccountError } from './accounts.js';
import { startDevIdp } from './dev-idp.js';
import type { DevIdp } from './dev-idp.js';
import { DevIdpRefusedError } from './production-guard.js';

const AUDIENCE = 'http://127.0.0.1:3000/t/acme/mcp';

describe('startDevIdp', () => {
  let idp: DevIdp;
  let jwks: ReturnType<typeof createRemoteJWKSet>;

  beforeAll(async () => {
    idp = await startDevIdp({ port: 0 });
    jwks = createRemoteJWKSet(new URL(idp.jwksUri));
  });
  afterAll(() => idp.close());

  const userinfo = (token: string): Promise<Response> => fetch(idp.userinfoEndpoint, { headers: { authorization: `Bearer ${token}` } });

  it('serves a discovery document naming its own endpoints', async () => {
    expect(idp.issuer).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const res = await fetch(`${idp.issuer}/.well-known/openid-configuration`);
    expect(res.status).toBe(200);
    const doc = (await res.json()) as Record<string, unknown>;
    expect(doc).toMatchObject({
      issuer: idp.issuer,
      jwks_uri: idp.jwksUri,
      userinfo_endpoint: idp.userinfoEndpoint,
      token_endpoint: idp.tokenEndpoint,
    });
  });

  it('mints a provider-signed JWT access token for a resource server', async () => {
    const token = await idp.mintAccessToken({
      sub: 'alice',
      audience: AUDIENCE,
      scope: 'tools:search tools:whoami',
    });
    const { payload, protectedHeader } = await jwtVerify(token, jwks, {
      issuer: idp.issuer,
      audience: AUDIENCE,
      typ: 'at+jwt',
    });
    expect(protectedHeader.alg).toBe('ES256');
    expect(payload).toMatchObject({ sub: 'alice', scope: 'tools:search tools:whoami' });
    expect(payload.exp! - payload.iat!).toBe(600);
    expect(typeof payload.jti).toBe('string');
  });

  it('honours ttlSeconds and refuses a token for another audience', async () => {
    const token = await idp.mintAccessToken({ sub: 'bob', audience: AUDIENCE, scope: 'a', ttlSeconds: 1 });
    // Checked at the second it was issued: a 1 s token checked a moment later may already have expired
    // (issued at x.999 s, checked at x+1 s), which is not what this test is about.
    const currentDate = new Date(decodeJwt(token).iat! * 1000);
    const { payload } = await jwtVerify(token, jwks, { issuer: idp.issuer, audience: AUDIENCE, currentDate });
    expect(payload.exp! - payload.iat!).toBe(1);
    await expect(jwtVerify(token, jwks, { issuer: idp.issuer, audience: 'http://127.0.0.1:3000/t/other/mcp', currentDate })).rejects.toBeInstanceOf(
      joseErrors.JWTClaimValidationFailed,
    );
  });

  it('mints an already expired, still validly signed, token on request', async () => {
    const token = await idp.mintAccessToken({
      sub: 'alice',
      audience: AUDIENCE,
      scope: 'a',
      alreadyExpired: true,
    });
    await expect(jwtVerify(token, jwks, { issuer: idp.issuer, audience: AUDIENCE })).rejects.toBeInstanceOf(joseErrors.JWTExpired);
    const { payload } = await jwtVerify(token, jwks, {
      issuer: idp.issuer,
      audience: AUDIENCE,
      currentDate: new Date(Date.now() - 10 * 60 * 1000),
    });
    expect(payload.sub).toBe('alice');
  });

  it('mints an upstream token the real userinfo endpoint accepts', async () => {
    const upstream = await idp.mintUpstreamToken({ sub: 'alice', scope: 'openid email profile' });
    expect(upstream.scope).toBe('openid email profile');
    expect(upstream.expiresAt.getTime()).toBeGreaterThan(Date.now() + 590_000);
    const res = await userinfo(upstream.accessToken);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      sub: 'alice',
      email: 'alice@example.test',
      email_verified: true,
      name: 'Alice Example',
    });
  });

  it('answers userinfo only with the claims of the granted scopes', async () => {
    const upstream = await idp.mintUpstreamToken({ sub: 'bob', scope: 'openid email' });
    const res = await userinfo(upstream.accessToken);
    expect(await res.json()).toEqual({ sub: 'bob', email: 'bob@example.test', email_verified: true });
  });

  it('rejects a garbage token at userinfo with 401 invalid_token', async () => {
    const res = await userinfo('not-a-token');
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    expect(((await res.json()) as { error: string }).error).toBe('invalid_token');
  });

  it('rejects an expired upstream token at userinfo', async () => {
    // `exp` has whole seconds: 3 s leave at least 2 s for the first request on a loaded machine.
    const upstream = await idp.mintUpstreamToken({ sub: 'alice', scope: 'openid', ttlSeconds: 3 });
    expect((await userinfo(upstream.accessToken)).status).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 4100));
    expect((await userinfo(upstream.accessToken)).status).toBe(401);
  });

  it('redeems the minted refresh token at the real token endpoint', async () => {
    const upstream = await idp.mintUpstreamToken({ sub: 'bob', scope: 'openid email profile' });
    const basic = Buffer.from(`${idp.client.clientId}:${idp.client.clientSecret}`).toString('base64');
    const res = await fetch(idp.tokenEndpoint, {
      method: 'POST',
      headers: {
        authorization: `Basic ${basic}`,
        'content-type': 'application/x-www-form-urlencoded',
      },
      body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: upstream.refreshToken! }),
    });
    expect(res.status).toBe(200);
    const body = (await res.json()) as { access_token: string; scope: string; token_type: string };
    expect(body).toMatchObject({ scope: 'openid email profile', token_type: 'Bearer' });
    const me = await userinfo(body.access_token);
    expect(((await me.json()) as { email: string }).email).toBe('bob@example.test');
  });

  it('refuses to mint for an unknown account', async () => {
    await expect(idp.mintAccessToken({ sub: 'mallory', audience: AUDIENCE, scope: 'a' })).rejects.toBeInstanceOf(UnknownAccountError);
    await expect(idp.mintUpstreamToken({ sub: 'mallory', scope: 'openid' })).rejects.toBeInstanceOf(UnknownAccountError);
  });

  it('refuses a malformed audience, scope or ttl', async () => {
    await expect(idp.mintAccessToken({ sub: 'alice', audience: 'acme', scope: 'a' })).rejects.toThrow(/audience/);
    await expect(idp.mintAccessToken({ sub: 'alice', audience: AUDIENCE, scope: 'a  b' })).rejects.toThrow(/scope/);
    await expect(idp.mintUpstreamToken({ sub: 'alice', scope: 'openid', ttlSeconds: 0 })).rejects.toThrow(/ttlSeconds/);
  });
});

describe('startDevIdp options and lifecycle', () => {
  it('serves the accounts it is given', async () => {
    const idp = await startDevIdp({
      accounts: [{ sub: 'carol', email: 'carol@example.test', name: 'Carol' }],
      accessTokenTtlSeconds: 120,
    });
    try {
      expect(idp.accounts).toEqual([{ sub: 'carol', email: 'carol@example.test', name: 'Carol' }]);
      const upstream = await idp.mintUpstreamToken({ sub: 'carol', scope: 'openid email' });
      expect(upstream.expiresAt.getTime() - Date.now()).toBeLessThanOrEqual(120_000);
      const res = await fetch(idp.userinfoEndpoint, {
        headers: { authorization: `Bearer ${upstream.accessToken}` },
      });
      expect(((await res.json()) as { email: string }).email).toBe('carol@example.test');
      await expect(idp.mintUpstreamToken({ sub: 'alice', scope: 'openid' })).rejects.toBeInstanceOf(UnknownAccountError);
    } finally {
      await idp.close();
    }
  });

  it('frees its port on close(), even with a keep-alive connection open', async () => {
    const idp = await startDevIdp();
    const port = Number(new URL(idp.issuer).port);
    await fetch(`${idp.issuer}/.well-known/openid-configuration`).then((r) => r.text());
    await idp.close();
    await idp.close(); // idempotent

    await expect(fetch(`${idp.issuer}/jwks`)).rejects.toThrow();
    const probe = createServer();
    await new Promise<void>((resolve, reject) => {
      probe.once('error', reject);
      probe.listen(port, '127.0.0.1', resolve);
    });
    await new Promise<void>((resolve) => probe.close(() => resolve()));
  });

  it('refuses to start in production', async () => {
    vi.stubEnv('NODE_ENV', 'production');
    try {
      await expect(startDevIdp()).rejects.toBeInstanceOf(DevIdpRefusedError);
      await expect(startDevIdp()).rejects.toThrow('dev IdP refused in production');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});
