import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initializeRequest, startStack, type Stack } from './harness/stack.js';

/**
 * Cheap checks first, clear answers always.
 * - A bearer value that cannot be this tenant's token is refused (401 + challenge, invalid_token)
 *   before any network work: the tenant's IdP sees no discovery and no JWKS request.
 * - Every answer is counted in `mcprt_http_requests_total`, refusals and errors included.
 */
const b64u = (v: unknown) => Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)).toString('base64url');
const jwt = (header: unknown, payload: unknown, sig = b64u('x'.repeat(64))) => `${b64u(header)}.${b64u(payload)}.${sig}`;

describe('malformed bearer tokens cost no outbound request', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'cheap', auth: 'external', worker: 'none' });
  });
  afterAll(() => s?.close());

  it('garbage, a wrong shape, a bad header, a disallowed alg, another issuer, another audience: 401 invalid_token, and the IdP sees nothing', async () => {
    const now = Math.floor(Date.now() / 1000);
    const claims = { iss: s.idp.issuer, aud: s.mcpUrl, sub: 'alice', exp: now + 600 };
    const cases: [string, string, RegExp][] = [
      ['one segment', 'x', /not a JWT/],
      ['two segments', 'a.b', /not a JWT/],
      ['four segments', 'a.b.c.d', /not a JWT/],
      ['empty segment', `${b64u({ alg: 'ES256' })}..sig`, /not a JWT/],
      ['base64, not base64url', `${b64u({ alg: 'ES256' })}.${Buffer.from('{"a":"??>?"}').toString('base64')}.sig`, /not a JWT|payload/],
      ['header not JSON', `${b64u('not json')}.${b64u(claims)}.sig`, /header/],
      ['alg none', jwt({ alg: 'none' }, claims, ''), /not a JWT/],
      ['alg none, with a signature', jwt({ alg: 'none' }, claims), /alg must be one of/],
      ['alg HS256', jwt({ alg: 'HS256' }, claims), /alg must be one of/],
      ['payload not JSON', `${b64u({ alg: 'ES256' })}.${b64u('nope')}.sig`, /payload/],
      ['another issuer', jwt({ alg: 'ES256', kid: 'k' }, { ...claims, iss: 'http://127.0.0.1:1/evil' }), /iss/],
      ['no issuer', jwt({ alg: 'ES256' }, { ...claims, iss: undefined }), /iss/],
      ['several audiences', jwt({ alg: 'ES256' }, { ...claims, aud: [s.mcpUrl, 'https://b.example/mcp'] }), /aud/],
      ['another audience', jwt({ alg: 'ES256' }, { ...claims, aud: 'https://b.example/mcp' }), /aud/],
      ['long garbage', `${'a'.repeat(15_000)}.b`, /not a JWT/],
    ];
    s.idpRequests.length = 0;
    for (const [name, token, description] of cases) {
      const res = await s.post(initializeRequest, { authorization: `Bearer ${token}` });
      expect(res.status, name).toBe(401);
      const challenge = res.headers.get('www-authenticate') ?? '';
      expect(challenge, name).toMatch(/^Bearer /);
      expect(challenge, name).toContain('error="invalid_token"');
      expect(challenge, name).toContain('resource_metadata="');
      const body = (await res.json()) as { error: string; error_description: string };
      expect(body.error, name).toBe('invalid_token');
      expect(body.error_description, name).toMatch(description);
    }
    expect(s.idpRequests).toEqual([]);

    // Control: a real token does reach the IdP (discovery, then the key set) — the count is live.
    const res = await s.post(initializeRequest, { authorization: `Bearer ${await s.token('alice')}` });
    expect(res.status).toBe(200);
    expect(s.idpRequests.length).toBeGreaterThan(0);
    expect(s.idpRequests.some((r) => r.startsWith('GET /.well-known/openid-configuration'))).toBe(true);
  });
});

describe('mcprt_http_requests_total counts every answer', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'count', auth: 'external', worker: 'none' });
  });
  afterAll(() => s?.close());

  const counted = async () => {
    const { values } = await s.api!.resources.metrics.httpRequests.get();
    return (route: string, status: number) =>
      values.filter((v) => v.labels.route === route && v.labels.status === String(status)).reduce((n, v) => n + v.value, 0);
  };

  it('after a 401, a 404 and a 403 the counter shows each of them', async () => {
    const route = '/t/:tenant/mcp';
    const before = await counted();

    // 401: no token.
    expect((await s.post(initializeRequest)).status).toBe(401);
    // 404: no such tenant (thrown by middleware before the route's handler).
    expect((await s.post(initializeRequest, {}, `${s.config.PUBLIC_URL}/t/no-such-tenant-here/mcp`)).status).toBe(404);
    // 403: a tool call without the tool's scope.
    const echoOnly = await s.token('alice', { scope: 'tools:echo' });
    const res = await s.post(
      { jsonrpc: '2.0', id: 2, method: 'tools/call', params: { name: 'whoami', arguments: {} } },
      { authorization: `Bearer ${echoOnly}` },
    );
    expect(res.status).toBe(403);
    // And a path no route knows.
    expect((await fetch(`${s.config.PUBLIC_URL}/nowhere`)).status).toBe(404);

    const after = await counted();
    expect(after(route, 401) - before(route, 401)).toBe(1);
    expect(after(route, 404) - before(route, 404)).toBe(1);
    expect(after(route, 403) - before(route, 403)).toBe(1);
    expect(after('unmatched', 404) - before('unmatched', 404)).toBe(1);

    // The same numbers in the exposition text a scrape gets (read from the registry: where /metrics
    // is served is a deployment choice).
    const text = await s.api!.resources.metrics.registry.getSingleMetricAsString('mcprt_http_requests_total');
    for (const status of [401, 403, 404]) {
      expect(text).toMatch(new RegExp(`mcprt_http_requests_total\\{[^}]*route="/t/:tenant/mcp"[^}]*status="${status}"[^}]*\\} [1-9]`));
    }
  });
});
