import { createServer, type Server } from 'node:http';
import { createEgress, type Egress } from '@mcprt/egress';
import { exportJWK, generateKeyPair } from 'jose';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { IssuerDirectory, idpUnavailable, retryAfterSeconds } from './issuer-directory.js';

/** A local IdP whose behaviour the test switches: down (connections cut), healthy, or healthy with a dead key set. */
async function fakeIdp() {
  const { publicKey } = await generateKeyPair('ES256');
  const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
  let mode: 'down' | 'up' | 'jwks-down' = 'down';
  const hits: string[] = [];
  const server: Server = createServer((req, res) => {
    hits.push(req.url ?? '');
    if (mode === 'down') return void req.socket.destroy();
    if (req.url === '/.well-known/openid-configuration') {
      return void res
        .writeHead(200, { 'content-type': 'application/json' })
        .end(JSON.stringify({ issuer, jwks_uri: `${issuer}/jwks`, userinfo_endpoint: `${issuer}/me` }));
    }
    if (req.url === '/jwks' && mode === 'up') return void res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys: [jwk] }));
    res.writeHead(500).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const issuer = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return {
    issuer,
    hits,
    set: (m: typeof mode) => (mode = m),
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

function recordingLog() {
  const lines: { level: 'warn' | 'info'; obj: object; msg: string }[] = [];
  return {
    lines,
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
  };
}

const header = { alg: 'ES256', kid: 'k1' };
const token = { payload: '', signature: '', protected: '' };

describe('IssuerDirectory', () => {
  let idp: Awaited<ReturnType<typeof fakeIdp>>;
  const egress = createEgress({ allowPrivate: true });
  beforeAll(async () => {
    idp = await fakeIdp();
  });
  afterEach(() => {
    idp.hits.length = 0;
    idp.set('down');
  });
  afterAll(async () => {
    await idp?.close();
    await egress.close();
  });

  it('an unreachable issuer: a retryable idp_unavailable, one outbound attempt per failure window, logged once per outage', async () => {
    const log = recordingLog();
    const directory = new IssuerDirectory({ allowInsecure: true, egress, failureTtlMs: 400, log });
    const flood = await Promise.allSettled(Array.from({ length: 25 }, () => directory.jwks(idp.issuer)));
    for (const r of flood) {
      expect(r.status).toBe('rejected');
      const err = (r as PromiseRejectedResult).reason as Error;
      expect(err).toMatchObject({ code: 'idp_unavailable', kind: 'unavailable', status: 503, retryable: true, expose: true });
      expect(retryAfterSeconds(idpUnavailable(err)!)).toBe(1);
    }
    expect(idp.hits).toEqual(['/.well-known/openid-configuration']);
    // Still inside the window: no request at all.
    await expect(directory.metadata(idp.issuer)).rejects.toMatchObject({ code: 'idp_unavailable' });
    expect(idp.hits).toHaveLength(1);
    // After the window: one more attempt, and the same outage is not logged again.
    await new Promise((r) => setTimeout(r, 450));
    await Promise.allSettled(Array.from({ length: 10 }, () => directory.metadata(idp.issuer)));
    expect(idp.hits).toHaveLength(2);
    expect(log.lines.map((l) => [l.level, l.msg])).toEqual([['warn', 'identity provider unreachable: its tokens are answered 503 until it recovers']]);
    expect(log.lines[0]!.obj).toMatchObject({ issuer: idp.issuer, reason: expect.stringContaining('the identity provider') });
    // Recovery is logged once, and the directory works again.
    idp.set('up');
    await new Promise((r) => setTimeout(r, 450));
    expect((await directory.metadata(idp.issuer)).userinfoEndpoint).toBe(`${idp.issuer}/me`);
    const key = await (await directory.jwks(idp.issuer))(header, token);
    expect(key).toBeDefined();
    expect(log.lines.map((l) => l.level)).toEqual(['warn', 'info']);
  });

  it('a key set that cannot be fetched is an outage too (not a bad token), held for the window', async () => {
    idp.set('jwks-down');
    const log = recordingLog();
    const directory = new IssuerDirectory({ allowInsecure: true, egress, failureTtlMs: 60_000, log });
    const getKey = await directory.jwks(idp.issuer);
    await expect(getKey(header, token)).rejects.toMatchObject({ code: 'idp_unavailable', status: 503 });
    expect(idp.hits).toEqual(['/.well-known/openid-configuration', '/jwks']);
    await expect(directory.jwks(idp.issuer)).rejects.toMatchObject({ code: 'idp_unavailable' });
    expect(idp.hits).toHaveLength(2);
    expect(log.lines.map((l) => l.level)).toEqual(['warn']);
  });

  it('discovery and JWKS go through the egress: a private issuer address is refused when private egress is off', async () => {
    idp.set('up');
    const strict = createEgress({ allowPrivate: false });
    try {
      const directory = new IssuerDirectory({ allowInsecure: true, egress: strict });
      const err = await directory.metadata(idp.issuer).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'idp_unavailable' });
      expect(JSON.stringify(causes(err))).toContain('egress_refused');
      expect(idp.hits).toEqual([]);
    } finally {
      await strict.close();
    }
  });

  it('discovery and the key set are both fetched through the egress', async () => {
    idp.set('up');
    const seen: string[] = [];
    const counting: Egress = { request: (url, init) => (seen.push(`${init.service} ${url}`), egress.request(url, init)), close: () => egress.close() };
    const directory = new IssuerDirectory({ allowInsecure: true, egress: counting });
    await (
      await directory.jwks(idp.issuer)
    )(header, token);
    expect(seen).toEqual([`the identity provider ${idp.issuer}/.well-known/openid-configuration`, `the identity provider ${idp.issuer}/jwks`]);
    expect(idp.hits).toHaveLength(2);
  });

  it('an http:// issuer is refused without a request when insecure issuers are off', async () => {
    const directory = new IssuerDirectory({ allowInsecure: false, egress });
    await expect(directory.metadata(idp.issuer)).rejects.toMatchObject({ code: 'issuer_insecure' });
    expect(idp.hits).toEqual([]);
  });
});

function causes(e: unknown): string[] {
  const out: string[] = [];
  for (let cur = e; cur; cur = (cur as { cause?: unknown }).cause) out.push(String((cur as { code?: unknown }).code ?? (cur as Error).message));
  return out;
}
