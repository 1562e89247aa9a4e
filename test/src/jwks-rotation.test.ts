import { DEFAULT_DEV_ACCOUNTS, startDevIdp, type DevIdp } from '@mcprt/dev-idp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALL_SCOPES, initializeRequest, startStack, type Stack } from './harness/stack.js';

/** JWKS cached *and rotated*: a token signed with the IdP's new key is accepted. */
describe('IdP signing-key rotation', () => {
  let s: Stack;
  let rotated: DevIdp | undefined;
  beforeAll(async () => {
    s = await startStack({ label: 'jwks', auth: 'external', worker: 'none', env: { JWKS_REFRESH_COOLDOWN_MS: '0' } });
  });
  afterAll(async () => {
    await rotated?.close();
    await s?.close();
  });

  it('fetches the key set again when a token names a key id it has not seen', async () => {
    const before = await s.token('alice');
    expect((await s.post(initializeRequest, { authorization: `Bearer ${before}` })).status).toBe(200);

    // The same issuer comes back with a brand-new signing key (a restart of the dev IdP generates one).
    const port = Number(new URL(s.idp.issuer).port);
    await s.idp.close();
    rotated = await startDevIdp({ port, accounts: DEFAULT_DEV_ACCOUNTS });
    expect(rotated.issuer).toBe(s.idp.issuer);
    const after = await rotated.mintAccessToken({ sub: 'bob', audience: s.mcpUrl, scope: ALL_SCOPES });
    const kid = (t: string) => (JSON.parse(Buffer.from(t.split('.')[0]!, 'base64url').toString()) as { kid: string }).kid;
    expect(kid(after)).not.toBe(kid(before));

    expect((await s.post(initializeRequest, { authorization: `Bearer ${after}` })).status).toBe(200);
  });
});
