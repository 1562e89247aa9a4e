import { createServer, type IncomingHttpHeaders, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import net, { type LookupFunction } from 'node:net';
import ipaddr from 'ipaddr.js';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { rootCertificates } from 'node:tls';
import { guardedLookup, isPrivateAddress, isPublicAddress, type Resolver } from './addresses.js';
import { readCaFile, trustedCertificates } from './ca.js';
import { createEgress, egressFetch } from './egress.js';
import { retryableStatus, upstreamStatusError } from './status.js';

const signal = () => new AbortController().signal;
const isLoopback = (ip: string) => {
  if (!ipaddr.isValid(ip)) return false;
  const a = ipaddr.process(ip);
  return a.range() === 'loopback';
};

/**
 * Safety net for the whole file (the rule: tests send nothing beyond loopback). Every socket connect
 * goes through here: a literal non-loopback host is blocked, and a name's lookup answer is inspected
 * after the egress's own lookup ran; a non-loopback address is recorded in `blocked` and never
 * connected to. If a defect comes back, the attack test fails on `blocked` or on the error code
 * instead of sending a packet.
 */
const blocked: string[] = [];
beforeEach(() => {
  blocked.length = 0;
  const realConnect = net.Socket.prototype.connect;
  vi.spyOn(net.Socket.prototype, 'connect').mockImplementation(function (this: net.Socket, ...args: unknown[]) {
    const first = args[0] as unknown;
    const options = (Array.isArray(first) ? first[0] : typeof first === 'object' ? first : { host: args[1] }) as { host?: string; lookup?: LookupFunction };
    const host = options.host ?? 'localhost';
    if (net.isIP(host) && !isLoopback(host)) {
      blocked.push(host);
      process.nextTick(() => this.destroy(new Error(`test safety net: connect to ${host} blocked`)));
      return this;
    }
    if (!net.isIP(host) && options.lookup) {
      const inner = options.lookup;
      options.lookup = ((h, o, cb) =>
        inner(h, o, (err, address, family) => {
          if (err) return cb(err, address, family);
          const list = Array.isArray(address) ? address.map((a) => a.address) : [address];
          const outside = list.filter((a) => !isLoopback(a));
          if (outside.length) {
            blocked.push(...outside);
            return cb(new Error(`test safety net: connect to ${outside.join(', ')} blocked`), '', 0);
          }
          cb(null, address, family);
        })) as LookupFunction;
    }
    return (realConnect as (...a: unknown[]) => net.Socket).apply(this, args);
  });
});
afterEach(() => vi.restoreAllMocks());

/** A local server that records what reached it. */
async function recorder(handler: (req: IncomingMessage, res: ServerResponse, body: string) => void) {
  const seen: { method: string; url: string; headers: IncomingHttpHeaders; body: string }[] = [];
  let connections = 0;
  const server: Server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => (body += c.toString()));
    req.on('end', () => {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body });
      handler(req, res, body);
    });
  });
  server.on('connection', () => connections++);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    url: `http://127.0.0.1:${port}`,
    seen,
    connections: () => connections,
    close: () => {
      server.closeAllConnections();
      return new Promise<void>((r) => server.close(() => r()));
    },
  };
}

describe('egress: address rules', () => {
  // Each spelling the URL parser, a resolver or an attacker may produce for an address we must not reach.
  const NOT_PUBLIC = [
    '127.0.0.1',
    '127.255.255.254',
    '0.0.0.0',
    '0.1.2.3',
    '10.1.2.3',
    '172.16.0.1',
    '192.168.1.1',
    '100.64.0.1',
    '169.254.169.254',
    '224.0.0.1',
    '239.255.255.250',
    '240.0.0.1',
    '255.255.255.255',
    '192.0.2.1',
    '198.18.0.1',
    '::1',
    '::',
    '::ffff:127.0.0.1',
    '::ffff:7f00:1',
    '::ffff:a9fe:a9fe',
    '::7f00:1',
    '64:ff9b::7f00:1',
    '64:ff9b:1::a00:1',
    'fc00::1',
    'fd00:ec2::254',
    '::ffff:0:7f00:1',
    'fd12:3456::1',
    'fe80::1',
    'fe80::1%lo',
    'ff02::1',
    '2002:7f00:1::1',
    '2001::1',
    '2001:db8::1',
    'not-an-ip',
    '',
  ];

  it('classifies every non-public address form as private (ipaddr.js range table)', () => {
    for (const ip of NOT_PUBLIC) expect([ip, isPublicAddress(ip)]).toEqual([ip, false]);
    for (const ip of NOT_PUBLIC) expect(isPrivateAddress(ip)).toBe(true);
    for (const ip of ['8.8.8.8', '172.32.0.1', '100.128.0.1', '93.184.216.34', '2606:4700::1111', '::ffff:8.8.8.8', '2a00:1450::1'])
      expect([ip, isPublicAddress(ip)]).toEqual([ip, true]);
  });

  // URL spellings, including how WHATWG URL rewrites them: [::ffff:127.0.0.1] → [::ffff:7f00:1],
  // 2130706433 / 0x7f000001 / 0177.0.0.1 / 0x7f.1 / 127.1 → 127.0.0.1.
  const URLS = [
    'http://[::ffff:127.0.0.1]/',
    'http://[::ffff:7f00:1]/',
    'http://[::1]:8080/',
    'http://[::]/',
    'http://0.0.0.0/',
    'http://0/',
    'http://100.64.0.1/',
    'http://169.254.169.254/latest/meta-data/',
    'http://[::ffff:169.254.169.254]/',
    'http://[fc00::1]/',
    'http://[fd00::1]/',
    'http://[fe80::1]/',
    'http://[64:ff9b::7f00:1]/',
    'http://[64:ff9b::a9fe:a9fe]/',
    'http://[::127.0.0.1]/',
    'http://224.0.0.1/',
    'http://240.0.0.1/',
    'http://255.255.255.255/',
    'http://2130706433/',
    'http://0x7f000001/',
    'http://0177.0.0.1/',
    'http://0x7f.1/',
    'http://127.1/',
    'http://10.0.0.1/',
    'https://192.168.0.1/',
    'http://172.16.0.1/',
  ];

  it('refuses every private address form in a URL before connecting', async () => {
    const resolve = vi.fn<Resolver>(async () => [{ address: '127.0.0.1', family: 4 }]);
    const egress = createEgress({ allowPrivate: false, resolve });
    for (const url of URLS) {
      await expect(egress.request(url, { signal: signal(), service: 'Test' }), url).rejects.toMatchObject({ code: 'egress_refused', expose: true });
    }
    expect(resolve).not.toHaveBeenCalled();
    expect(blocked).toEqual([]);
    await egress.close();
  });

  it('refuses a name whose answer holds any private address form, at connect time (the lookup filter)', async () => {
    const target = await recorder((_q, res) => res.end('{}'));
    try {
      for (const address of NOT_PUBLIC.filter((a) => net.isIP(a))) {
        const family = net.isIP(address);
        const resolve = vi.fn<Resolver>(async () => [{ address, family }]);
        const egress = createEgress({ allowPrivate: false, resolve });
        await expect(egress.request(`http://internal.example:${target.port}/`, { signal: signal(), service: 'Test' }), address).rejects.toMatchObject({
          code: 'egress_refused',
        });
        expect(resolve).toHaveBeenCalledTimes(1);
        await egress.close();
      }
      expect(target.connections()).toBe(0);
      expect(blocked).toEqual([]);
    } finally {
      await target.close();
    }
  });

  it('the lookup filter refuses a mixed answer (one public, one private address) as a whole', async () => {
    const lookup = guardedLookup(
      async () => [
        { address: '93.184.216.34', family: 4 },
        { address: '127.0.0.1', family: 4 },
      ],
      false,
    );
    for (const all of [true, false]) {
      const err = await new Promise<unknown>((resolve) => lookup('mixed.example', { all }, (e) => resolve(e)));
      expect(err).toMatchObject({ code: 'egress_refused' });
    }
  });

  it('DNS rebinding: one resolution per connection, checked, and that address is the one connected to', async () => {
    // The attacker's DNS answers a public address first and 127.0.0.1 afterwards (TTL 0). The old
    // egress resolved to check, then let fetch resolve again and connected to 127.0.0.1.
    const target = await recorder((_q, res) => res.end('{"internal":true}'));
    try {
      let calls = 0;
      const resolve: Resolver = async () => (++calls === 1 ? [{ address: '93.184.216.34', family: 4 }] : [{ address: '127.0.0.1', family: 4 }]);
      const egress = createEgress({ allowPrivate: false, resolve });
      // The first (public) answer is the one the connection uses (the safety net stops it there).
      await expect(egress.request(`http://rebind.example:${target.port}/`, { signal: signal(), service: 'Test' })).rejects.toMatchObject({
        code: 'upstream_unreachable',
      });
      expect(calls).toBe(1);
      expect(blocked).toEqual(['93.184.216.34']);
      // The next connection gets the rebound answer: refused at connect time.
      await expect(egress.request(`http://rebind.example:${target.port}/`, { signal: signal(), service: 'Test' })).rejects.toMatchObject({
        code: 'egress_refused',
      });
      expect(calls).toBe(2);
      expect(target.connections()).toBe(0);
      await egress.close();
    } finally {
      await target.close();
    }
  });

  it('reaches a loopback name when private egress is allowed (development and tests)', async () => {
    const target = await recorder((_q, res) => res.end('{"ok":true}'));
    try {
      const egress = createEgress({ allowPrivate: true, resolve: async () => [{ address: '127.0.0.1', family: 4 }] });
      const res = await egress.request(`http://double.test:${target.port}/x`, { signal: signal(), service: 'Test' });
      expect(await res.json()).toEqual({ ok: true });
      await egress.close();
    } finally {
      await target.close();
    }
  });

  it('refuses non-http schemes, URLs with credentials and garbage with a clear error', async () => {
    const egress = createEgress({ allowPrivate: true });
    for (const [url, message] of [
      ['file:///etc/passwd', 'Test URL scheme is not http(s)'],
      ['gopher://127.0.0.1/', 'Test URL scheme is not http(s)'],
      ['http://user:pw@127.0.0.1/', 'Test URL must not carry credentials'],
      ['not a url', 'Test URL is not valid'],
    ] as const) {
      await expect(egress.request(url, { signal: signal(), service: 'Test' })).rejects.toMatchObject({ code: 'egress_refused', message });
    }
    await egress.close();
  });
});

describe('egress: redirects', () => {
  // Two servers on two ports: two origins. Each redirects to `?to=` with status `?code=` (302).
  const redirector = (at: string) => (req: IncomingMessage, res: ServerResponse) => {
    const q = new URL(req.url ?? '/', 'http://x').searchParams;
    const to = q.get('to');
    if (to) return void res.writeHead(Number(q.get('code') ?? 302), { location: to }).end();
    res.end(JSON.stringify({ at }));
  };
  let home: Awaited<ReturnType<typeof recorder>>;
  let other: Awaited<ReturnType<typeof recorder>>;
  beforeAll(async () => {
    [home, other] = await Promise.all([recorder(redirector('home')), recorder(redirector('other'))]);
  });
  afterAll(() => Promise.all([home?.close(), other?.close()]));
  beforeEach(() => {
    home.seen.length = 0;
    other.seen.length = 0;
  });
  const egress = createEgress({ allowPrivate: true });
  afterAll(() => egress.close());
  const to = (url: string) => `?to=${encodeURIComponent(url)}`;

  const credentials = {
    Authorization: 'Bearer secret-token',
    'X-Api-Key': 'sk_live_key',
    cookie: 'session=s',
    'x-client-source': 'mcprt',
    accept: 'application/json',
  };

  it('drops credentials when a redirect changes origin (another port is another origin)', async () => {
    const res = await egress.request(`${home.url}/start${to(`${other.url}/landing`)}`, { headers: credentials, signal: signal(), service: 'Test' });
    expect(await res.json()).toEqual({ at: 'other' });
    expect(home.seen[0]!.headers.authorization).toBe('Bearer secret-token');
    expect(other.seen).toHaveLength(1);
    const h = other.seen[0]!.headers;
    expect(h.authorization).toBeUndefined();
    expect(h['x-api-key']).toBeUndefined();
    expect(h.cookie).toBeUndefined();
    expect(JSON.stringify(other.seen)).not.toMatch(/secret-token|sk_live_key|session=s/);
    // Harmless headers still go along.
    expect(h['x-client-source']).toBe('mcprt');
    expect(h.accept).toBe('application/json');
  });

  it('keeps them dropped when a later hop comes back to the first origin', async () => {
    const res = await egress.request(`${home.url}/a${to(`${other.url}/b${to(`${home.url}/c`)}`)}`, { headers: credentials, signal: signal(), service: 'Test' });
    expect(await res.json()).toEqual({ at: 'home' });
    expect(home.seen.map((s) => s.headers.authorization)).toEqual(['Bearer secret-token', undefined]);
  });

  it('keeps credentials on a same-origin redirect (control)', async () => {
    const res = await egress.request(`${home.url}/start${to('/final')}`, { headers: credentials, signal: signal(), service: 'Test' });
    expect(await res.json()).toEqual({ at: 'home' });
    expect(home.seen.map((s) => s.headers.authorization)).toEqual(['Bearer secret-token', 'Bearer secret-token']);
  });

  it('never sends a request body to another origin (307/308 refused, 301/302/303 after a POST become a GET)', async () => {
    const post = (code: number) =>
      egress.request(`${home.url}/post${to(`${other.url}/landing`)}&code=${code}`, {
        method: 'POST',
        headers: { ...credentials, 'content-type': 'application/json' },
        body: '{"client_secret":"shh"}',
        signal: signal(),
        service: 'Test',
      });
    for (const code of [307, 308]) {
      await expect(post(code)).rejects.toMatchObject({ code: 'egress_refused', message: 'Test redirected a request with a body to another origin' });
    }
    expect(other.seen).toHaveLength(0);
    for (const code of [301, 302, 303]) await (await post(code)).bytes();
    expect(other.seen.map((s) => [s.method, s.body, s.headers.authorization, s.headers['content-type']])).toEqual([
      ['GET', '', undefined, undefined],
      ['GET', '', undefined, undefined],
      ['GET', '', undefined, undefined],
    ]);
  });

  it('egressFetch honours fetch redirect modes: manual hands back the 3xx and follows nothing, error refuses; a fetch for a document never reaches another origin', async () => {
    const f = egressFetch(egress, 'Test');
    const manual = await f(`${home.url}/doc${to(`${other.url}/elsewhere`)}`, { redirect: 'manual' });
    expect(manual.status).toBe(302);
    expect(manual.headers.get('location')).toBe(`${other.url}/elsewhere`);
    await expect(f(`${home.url}/doc${to('/same')}`, { redirect: 'error' })).rejects.toMatchObject({ code: 'egress_refused' });
    // The authorization server's fetch: a redirect leaving the origin is refused even when following.
    const sameOrigin = egressFetch(egress, 'Test', { sameOriginRedirectsOnly: true });
    await expect(sameOrigin(`${home.url}/doc${to(`${other.url}/elsewhere`)}`)).rejects.toMatchObject({ code: 'egress_refused' });
    expect(other.seen).toHaveLength(0);
    expect(await (await f(`${home.url}/doc${to('/same')}`)).json()).toEqual({ at: 'home' });
  });

  it('follows only a few hops', async () => {
    const short = createEgress({ allowPrivate: true, maxRedirects: 2 });
    await expect(short.request(`${home.url}/1${to(`/2${to(`/3${to('/4')}`)}`)}`, { signal: signal(), service: 'Test' })).rejects.toMatchObject({
      code: 'upstream_redirect_loop',
    });
    await short.close();
  });
});

describe('egress: bodies and time', () => {
  it('caps a response body while it streams (no content-length, endless chunks)', async () => {
    let closed = false;
    let sent = 0;
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      const chunk = Buffer.alloc(16 * 1024, 'a');
      const timer = setInterval(() => {
        sent += chunk.length;
        res.write(chunk);
      }, 1);
      res.on('close', () => {
        closed = true;
        clearInterval(timer);
      });
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/big`;
    const egress = createEgress({ allowPrivate: true, maxBodyBytes: 64 * 1024 });
    try {
      const started = Date.now();
      const res = await egress.request(url, { signal: signal(), service: 'Test', timeoutMs: 10_000 });
      await expect(res.json()).rejects.toMatchObject({
        code: 'upstream_response_too_large',
        retryable: false,
        message: 'Test answered with more than 65536 bytes',
      });
      expect(Date.now() - started).toBeLessThan(5_000);
      // The fetch adapter (jose, openid-client) uses the same cap.
      await expect(egressFetch(egress, 'Test', { maxBodyBytes: 32 * 1024 })(url)).rejects.toMatchObject({ code: 'upstream_response_too_large' });
      await new Promise((r) => setTimeout(r, 100));
      expect(closed).toBe(true);
      const sentAtStop = sent;
      await new Promise((r) => setTimeout(r, 100));
      expect(sent).toBe(sentAtStop);
    } finally {
      await egress.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('refuses a declared content-length over the cap before reading', async () => {
    const server = createServer((_req, res) => {
      res.writeHead(200, { 'content-length': String(10 * 1024 * 1024) });
      res.write('x');
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const egress = createEgress({ allowPrivate: true, maxBodyBytes: 1024 });
    try {
      await expect(
        egress.request(`http://127.0.0.1:${(server.address() as { port: number }).port}/`, { signal: signal(), service: 'Test' }),
      ).rejects.toMatchObject({ code: 'upstream_response_too_large' });
    } finally {
      await egress.close();
      server.closeAllConnections();
      server.close();
    }
  });

  it('times out, as a retryable error', async () => {
    const server = createServer((_req, res) => void setTimeout(() => res.end('{}'), 2_000));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const egress = createEgress({ allowPrivate: true });
    await expect(
      egress.request(`http://127.0.0.1:${(server.address() as { port: number }).port}/slow`, { signal: signal(), service: 'Test', timeoutMs: 100 }),
    ).rejects.toMatchObject({ code: 'upstream_timeout', retryable: true });
    await egress.close();
    server.closeAllConnections();
    server.close();
  });

  it('egressFetch returns a fetch Response (for jose and openid-client)', async () => {
    const target = await recorder((_q, res) => res.writeHead(201, { 'content-type': 'application/json', 'x-a': '1' }).end('{"keys":[]}'));
    const egress = createEgress({ allowPrivate: true });
    try {
      const f = egressFetch(egress, 'Test');
      const res = await f(`${target.url}/jwks`, {
        method: 'POST',
        headers: new Headers({ accept: 'application/json' }),
        body: new URLSearchParams({ a: 'b' }),
      });
      expect(res).toBeInstanceOf(Response);
      expect(res.status).toBe(201);
      expect(res.headers.get('x-a')).toBe('1');
      expect(await res.json()).toEqual({ keys: [] });
      expect(target.seen[0]).toMatchObject({ method: 'POST', body: 'a=b' });
      await expect(f(`${target.url}/`, { method: 'DELETE' })).rejects.toMatchObject({ code: 'egress_refused' });
    } finally {
      await egress.close();
      await target.close();
    }
  });
});

describe('upstream statuses', () => {
  it('sorts upstream statuses: 429 and 5xx retry, other 4xx fail at once', () => {
    expect(upstreamStatusError('X', 429).retryable).toBe(true);
    expect(upstreamStatusError('X', 503).retryable).toBe(true);
    expect(upstreamStatusError('X', 400).retryable).toBe(false);
    expect(upstreamStatusError('X', 401)).toMatchObject({ code: 'upstream_unauthorized', retryable: false, expose: true });
  });
  it('403 is forbidden, not unauthorized: a valid token refused this request, so no refresh and no new sign-in would help', () => {
    expect(upstreamStatusError('X', 403, { detail: 'no' })).toMatchObject({
      code: 'upstream_forbidden',
      retryable: false,
      message: 'X refused access (403): no',
    });
    expect(upstreamStatusError('X', 404, { notFound: 'no such thing' })).toMatchObject({ code: 'upstream_not_found', message: 'X: no such thing (404)' });
    expect(upstreamStatusError('X', 429, { retryAfter: '7' })).toMatchObject({ code: 'upstream_rate_limited', details: { retryAfterMs: 7000 } });
  });
  it('says which statuses are worth asking again (for callers that keep their own error code)', () => {
    expect([400, 401, 403, 404, 409, 422, 429, 500, 502, 503].filter(retryableStatus)).toEqual([429, 500, 502, 503]);
  });
});

describe('trusted certificate authorities (with EGRESS_EXTRA_CA_PEM)', () => {
  // The whole path with real CAs, NODE_EXTRA_CA_CERTS and https servers: test/src/egress-ca.test.ts.
  const extra = '-----BEGIN CERTIFICATE-----\nextra\n-----END CERTIFICATE-----\n';
  it('keeps every CA Node trusts by default (bundled ones included) and adds the extra PEM last', () => {
    const list = trustedCertificates(extra);
    expect(list.at(-1)).toBe(extra);
    for (const ca of rootCertificates) expect(list).toContain(ca);
  });
  it('reads NODE_EXTRA_CA_CERTS the way Node does for a runtime without tls.getCACertificates; an unreadable file adds nothing', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'mcprt-ca-')), 'extra.pem');
    writeFileSync(file, extra);
    expect(readCaFile(file)).toEqual([extra]);
    expect(readCaFile(`${file}.missing`)).toEqual([]);
    expect(readCaFile(undefined)).toEqual([]);
  });
});
