import { AppError } from '@mcprt/errors';
import type { UpstreamCredential } from '@mcprt/tools';
import { describe, expect, it } from 'vitest';
import { withTokenRetry, type UpstreamToken } from './upstream-token.js';

const cred = (accessToken: string): UpstreamCredential => ({ provider: 'idp', accessToken, scopes: [], expiresAt: null });
const unauthorized = () => new AppError('upstream', 'upstream_unauthorized', 'refused');

function fakeToken() {
  const calls = { refreshed: 0 };
  const token: UpstreamToken = {
    credential: cred('old'),
    refreshRejected: async () => {
      calls.refreshed++;
      return cred('new');
    },
    reauth: (cause) => new AppError('policy', 'reauth_required', 'reconnect', { cause }),
  };
  return { token, calls };
}

describe('withTokenRetry: a 401 refreshes once, a second 401 asks for a new sign-in', () => {
  it('runs once with the token when the provider accepts it', async () => {
    const { token, calls } = fakeToken();
    const seen: (string | undefined)[] = [];
    await expect(withTokenRetry(token, async (c) => (seen.push(c?.accessToken), 'ok'))).resolves.toBe('ok');
    expect(seen).toEqual(['old']);
    expect(calls.refreshed).toBe(0);
  });

  it('refreshes once after a 401 and runs again with the new token', async () => {
    const { token, calls } = fakeToken();
    const seen: (string | undefined)[] = [];
    const go = async (c: UpstreamCredential | undefined) => {
      seen.push(c?.accessToken);
      if (c?.accessToken === 'old') throw unauthorized();
      return 'ok';
    };
    await expect(withTokenRetry(token, go)).resolves.toBe('ok');
    expect(seen).toEqual(['old', 'new']);
    expect(calls.refreshed).toBe(1);
  });

  it('fails with the reconnect error when the fresh token is refused too', async () => {
    const { token, calls } = fakeToken();
    const err = await withTokenRetry(token, async () => Promise.reject(unauthorized())).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'reauth_required' });
    expect(calls.refreshed).toBe(1);
  });

  it('passes other failures through without a refresh', async () => {
    const { token, calls } = fakeToken();
    const boom = new AppError('upstream', 'upstream_error', 'five hundred', { retryable: true });
    await expect(withTokenRetry(token, async () => Promise.reject(boom))).rejects.toBe(boom);
    const again = new AppError('upstream', 'upstream_error', 'after refresh');
    let n = 0;
    await expect(withTokenRetry(token, async () => Promise.reject(n++ === 0 ? unauthorized() : again))).rejects.toBe(again);
    expect(calls.refreshed).toBe(1);
  });

  it('never refreshes for a tool without a token, even on a 401', async () => {
    const e = unauthorized();
    await expect(withTokenRetry(undefined, async (c) => Promise.reject(c ? new Error('had a token') : e))).rejects.toBe(e);
  });
});
