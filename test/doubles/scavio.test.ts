import { afterAll, beforeAll, describe, expect, it } from 'vitest';

import { organicResults, startScavioDouble } from './scavio.js';
import type { ScavioDouble } from './scavio.js';

const KEY = 'sk_test_double';

describe('Scavio double', () => {
  let scavio: ScavioDouble;

  beforeAll(async () => {
    scavio = await startScavioDouble({ apiKey: KEY });
  });
  afterAll(() => scavio.close());

  const v2 = (body: unknown, auth: string | null = `Bearer ${KEY}`): Promise<Response> =>
    fetch(`${scavio.url}/api/v2/google`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(auth ? { authorization: auth } : {}) },
      body: JSON.stringify(body),
    });

  const errorOf = async (res: Response): Promise<{ code: string; message: string }> =>
    ((await res.json()) as { error: { code: string; message: string } }).error;

  it('answers POST /api/v2/google with three deterministic organic results', async () => {
    const res = await v2({ query: 'mcp runtime' });
    expect(res.status).toBe(200);
    const body = (await res.json()) as Record<string, unknown>;
    expect(body).toEqual({
      organic_results: organicResults('mcp runtime'),
      related_searches: [],
      response_time: expect.any(Number),
      credits_used: 1,
      credits_remaining: expect.any(Number),
    });
    const results = body['organic_results'] as Array<Record<string, unknown>>;
    expect(results.map((r) => r['position'])).toEqual([1, 2, 3]);
    expect(Object.keys(results[0]!).sort()).toEqual(['displayed_link', 'link', 'position', 'snippet', 'title']);
    expect(organicResults('mcp runtime')).toEqual(organicResults('mcp runtime'));
    expect(organicResults('mcp runtime')[0]!.link).not.toBe(organicResults('other')[0]!.link);
  });

  it('pages with start and spends one credit per successful call', async () => {
    const first = (await (await v2({ query: 'q' })).json()) as { credits_remaining: number };
    const page2 = (await (await v2({ query: 'q', start: 10 })).json()) as {
      organic_results: Array<{ position: number }>;
      credits_remaining: number;
    };
    expect(page2.organic_results.map((r) => r.position)).toEqual([11, 12, 13]);
    expect(page2.credits_remaining).toBe(first.credits_remaining - 1);
  });

  it('answers the legacy POST /api/v1/search with x-api-key', async () => {
    const res = await fetch(`${scavio.url}/api/v1/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ platform: 'google', query: 'legacy' }),
    });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { organic_results: unknown }).organic_results).toEqual(organicResults('legacy'));
  });

  it.each([
    ['no key', null],
    ['a wrong key', 'Bearer sk_test_wrong'],
    ['the key without Bearer', KEY],
  ])('refuses %s with 401 unauthorized', async (_name, auth) => {
    const res = await v2({ query: 'q' }, auth);
    expect(res.status).toBe(401);
    expect((await errorOf(res)).code).toBe('unauthorized');
  });

  it('does not take x-api-key on v2 nor Bearer on the legacy route', async () => {
    const v2WithHeader = await fetch(`${scavio.url}/api/v2/google`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-api-key': KEY },
      body: JSON.stringify({ query: 'q' }),
    });
    expect(v2WithHeader.status).toBe(401);
    const legacyWithBearer = await fetch(`${scavio.url}/api/v1/search`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` },
      body: JSON.stringify({ platform: 'google', query: 'q' }),
    });
    expect(legacyWithBearer.status).toBe(401);
  });

  it.each([
    ['a missing query', {}],
    ['an empty query', { query: '' }],
    ['a 501-char query', { query: 'x'.repeat(501) }],
    ['a non-string query', { query: 42 }],
    ['a bad start', { query: 'q', start: 1000 }],
  ])('refuses %s with 400 bad_request', async (_name, body) => {
    const res = await v2(body);
    expect(res.status).toBe(400);
    expect((await errorOf(res)).code).toBe('bad_request');
  });

  it('accepts a 500-char query', async () => {
    expect((await v2({ query: 'x'.repeat(500) })).status).toBe(200);
  });

  it('forces 429 and 500 with magic queries', async () => {
    const limited = await v2({ query: '__rate_limit__' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toBe('30');
    expect((await errorOf(limited)).code).toBe('rate_limit_exceeded');

    const broken = await v2({ query: '__server_error__' });
    expect(broken.status).toBe(500);
    expect((await errorOf(broken)).code).toBe('internal_error');
  });

  it('records each request with path, headers and parsed body', async () => {
    const before = scavio.requests.length;
    await fetch(`${scavio.url}/api/v2/google`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, 'x-client-source': 'mcprt' },
      body: JSON.stringify({ query: 'recorded', gl: 'us' }),
    });
    expect(scavio.requests.length).toBe(before + 1);
    expect(scavio.requests.at(-1)).toMatchObject({
      path: '/api/v2/google',
      headers: { authorization: `Bearer ${KEY}`, 'x-client-source': 'mcprt' },
      body: { query: 'recorded', gl: 'us' },
    });
  });

  it('answers unknown routes with 404 and frees its port on close', async () => {
    const res = await fetch(`${scavio.url}/api/v2/bing`, { method: 'POST' });
    expect(res.status).toBe(404);

    const other = await startScavioDouble({ apiKey: KEY });
    await other.close();
    await expect(fetch(`${other.url}/api/v2/google`, { method: 'POST' })).rejects.toThrow();
  });
});
