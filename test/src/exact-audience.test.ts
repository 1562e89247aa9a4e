import { mcpResourceUrl } from '@mcprt/api';
import { tenantsRepository, type Tenant } from '@mcprt/db';
import { decodeJwt } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { initializeRequest, startStack, type Stack } from './harness/stack.js';
import { namespace } from './harness/test-config.js';

/**
 * Two tenants that trust the same IdP. A token minted for both (`aud: [A, B]`) must work
 * at neither: jose's `audience` option only asks that `aud` *contain* the expected value, so the
 * check is ours — exactly one audience, equal to the tenant's MCP resource URL.
 */
describe('exact audience: a token for several tenants works at none of them', () => {
  let s: Stack;
  let b: Tenant;
  let urlA: string;
  let urlB: string;

  beforeAll(async () => {
    s = await startStack({ label: 'aud', auth: 'external', worker: 'none' });
    // Tenant B: same deployment, same IdP as tenant A.
    b = await tenantsRepository(s.db.db).create({
      slug: namespace('aud-b').slug,
      displayName: 'Tenant B',
      idpIssuer: s.idp.issuer,
      enabledTools: ['whoami', 'echo'],
      authMode: 'external',
    });
    urlA = s.mcpUrl;
    urlB = mcpResourceUrl(s.config.PUBLIC_URL, b.slug);
  });
  afterAll(() => s?.close());

  const call = (url: string, token: string) => s.post(initializeRequest, { authorization: `Bearer ${token}` }, url);

  async function expectRefused(res: Response) {
    expect(res.status).toBe(401);
    expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    const body = (await res.json()) as { error: string; error_description: string };
    expect(body.error).toBe('invalid_token');
    expect(body.error_description).toMatch(/aud.*exactly/);
  }

  it('the attack: one token with aud [A, B] is refused at A and at B', async () => {
    const token = await s.token('alice', { audience: urlA, extraAudiences: [urlB] });
    expect(decodeJwt(token).aud).toEqual([urlA, urlB]);
    await expectRefused(await call(urlA, token));
    await expectRefused(await call(urlB, token));
    // The order does not matter either.
    const reversed = await s.token('alice', { audience: urlB, extraAudiences: [urlA] });
    await expectRefused(await call(urlA, reversed));
    await expectRefused(await call(urlB, reversed));
  });

  it('an array that repeats the audience, or adds any other value, is refused', async () => {
    await expectRefused(await call(urlA, await s.token('alice', { audience: urlA, extraAudiences: [urlA] })));
    await expectRefused(await call(urlA, await s.token('alice', { audience: urlA, extraAudiences: ['https://elsewhere.example/api'] })));
  });

  it('aud "A" (a string) and aud ["A"] (one element) work at A, and only at A', async () => {
    const plain = await s.token('alice');
    expect(decodeJwt(plain).aud).toBe(urlA);
    expect((await call(urlA, plain)).status).toBe(200);

    const single = await s.token('alice', { extraAudiences: [] });
    expect(decodeJwt(single).aud).toEqual([urlA]);
    expect((await call(urlA, single)).status).toBe(200);
    await expectRefused(await call(urlB, single));

    const forB = await s.token('alice', { audience: urlB });
    expect((await call(urlB, forB)).status).toBe(200);
  });
});
