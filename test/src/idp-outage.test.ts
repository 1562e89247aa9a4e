import { createServer, type Server } from 'node:http';
import { Writable } from 'node:stream';
import { tenantsRepository } from '@mcprt/db';
import { createLogger } from '@mcprt/observability';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initializeRequest, startStack, type Stack } from './harness/stack.js';
import { sleep } from './harness/wait-for.js';

/**
 * A well-formed token whose issuer cannot be reached. Before: every request cost an
 * outbound discovery request and answered `503 internal_error` with an error-level stack. Now: a
 * specific, retryable 503 with Retry-After, one outbound attempt per failure window
 * (IDP_FAILURE_CACHE_MS), one warning per outage, and the same token works once the IdP is back.
 */
describe('an unreachable tenant IdP', () => {
  const lines: Record<string, unknown>[] = [];
  let s: Stack;
  let idp: Awaited<ReturnType<typeof switchableIdp>>;
  let mcpUrl: string;
  let token: string;

  beforeAll(async () => {
    const destination = new Writable({
      write(chunk, _e, cb) {
        for (const l of String(chunk).split('\n').filter(Boolean)) lines.push(JSON.parse(l) as Record<string, unknown>);
        cb();
      },
    });
    s = await startStack({
      auth: 'external',
      label: 'idp-down',
      worker: 'none',
      env: { IDP_FAILURE_CACHE_MS: '1500' },
      log: createLogger({ name: 'test', level: 'debug', destination }),
    });
    idp = await switchableIdp();
    const slug = `${s.tenant.slug}-down`;
    await tenantsRepository(s.db.db).create({ slug, displayName: 'IdP down', idpIssuer: idp.issuer, enabledTools: ['echo'], authMode: 'external' });
    mcpUrl = `${s.config.PUBLIC_URL}/t/${slug}/mcp`;
    token = await idp.mint(mcpUrl);
  });
  afterAll(async () => {
    await idp?.close();
    await s?.close();
  });

  const post = () => s.post(initializeRequest, { authorization: `Bearer ${token}` }, mcpUrl);

  it('answers 503 idp_unavailable with Retry-After, costs one outbound attempt per window, logs one warning per outage', async () => {
    const flood = await Promise.all(Array.from({ length: 30 }, () => post()));
    for (const res of flood) {
      expect(res.status).toBe(503);
      const retryAfter = Number(res.headers.get('retry-after'));
      expect(retryAfter).toBeGreaterThanOrEqual(1);
      expect(retryAfter).toBeLessThanOrEqual(2);
      expect(await res.json()).toMatchObject({
        error: 'idp_unavailable',
        error_description: "the tenant's identity provider cannot be reached; retry later",
        request_id: expect.any(String),
      });
    }
    expect(idp.hits()).toBe(1);

    // After the window: one new attempt for the next flood, still the same outage in the log.
    await sleep(1_600);
    const again = await Promise.all(Array.from({ length: 10 }, () => post()));
    expect(again.map((r) => r.status)).toEqual(Array(10).fill(503));
    expect(idp.hits()).toBe(2);

    const warnings = lines.filter((l) => l.level === 'warn' && l.msg === 'identity provider unreachable: its tokens are answered 503 until it recovers');
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatchObject({ issuer: idp.issuer });
    expect(JSON.stringify(warnings[0])).not.toContain('stack');
    expect(lines.filter((l) => l.level === 'error' || l.level === 'fatal')).toEqual([]);
    expect(lines.some((l) => l.level === 'debug' && l.code === 'idp_unavailable')).toBe(true);
  });

  it('recovers: once the IdP answers again the same token is accepted, and the recovery is logged once', async () => {
    idp.up();
    await sleep(1_600);
    const res = await post();
    expect(res.status).toBe(200);
    expect(lines.filter((l) => l.msg === 'identity provider reachable again')).toHaveLength(1);
  });
});

/** An issuer on 127.0.0.1 that cuts every connection until `up()`, then serves discovery and its key set. */
async function switchableIdp() {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  let up = false;
  let hits = 0;
  const server: Server = createServer((req, res) => {
    hits++;
    if (!up) return void req.socket.destroy();
    if (req.url === '/.well-known/openid-configuration')
      return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks` }));
    if (req.url === '/jwks') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    issuer,
    hits: () => hits,
    up: () => (up = true),
    mint: (audience: string) =>
      new SignJWT({ scope: 'tools:echo' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1', typ: 'at+jwt' })
        .setIssuer(issuer)
        .setAudience(audience)
        .setSubject('alice')
        .setIssuedAt()
        .setExpirationTime('10m')
        .sign(privateKey),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}
