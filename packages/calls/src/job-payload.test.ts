import { describe, expect, it } from 'vitest';
import { parseJobPayload } from './job-payload.js';

const good = {
  v: 1,
  callId: 'call_AAAAAAAAAAAAAAAAAAAAAA',
  tenantId: '6f1d2a8e-1c4b-4f7e-9a51-3c2b1d0e9f8a',
  userId: '0b7c9d2e-5f4a-4e3b-8c1d-2a9f8e7d6c5b',
  tool: 'whoami',
  credential: { id: '1c2d3e4f-5a6b-4c7d-8e9f-0a1b2c3d4e5f', provider: 'idp', sealedAccessToken: 'v1.k1.a.b.c', scopes: ['openid'], expiresAt: null },
};

describe('job payload v1', () => {
  it('accepts the documented shape', () => {
    expect(parseJobPayload(good)).toEqual(good);
  });

  it('refuses a clear-text token field, unknown versions and extra fields, naming paths not values', () => {
    const withToken = { ...good, credential: { ...good.credential, accessToken: 'SECRET-TOKEN' } };
    expect(() => parseJobPayload(withToken)).toThrow(/credential/);
    try {
      parseJobPayload(withToken);
    } catch (e) {
      expect((e as Error).message).not.toContain('SECRET-TOKEN');
      expect((e as { retryable: boolean }).retryable).toBe(false);
    }
    expect(() => parseJobPayload({ ...good, v: 2 })).toThrow(/job payload invalid at v/);
    expect(() => parseJobPayload({ ...good, credential: { ...good.credential, sealedAccessToken: 'plain' } })).toThrow(/sealedAccessToken/);
    expect(() => parseJobPayload({ ...good, callId: '1' })).toThrow(/callId/);
    // Wrong types and unknown top-level fields (a forged job is refused, never half-read).
    expect(() => parseJobPayload({ ...good, userId: 42 })).toThrow(/userId/);
    expect(() => parseJobPayload({ ...good, tenantId: 'not-a-uuid' })).toThrow(/tenantId/);
    expect(() => parseJobPayload({ ...good, arguments: { secret: 'x' } })).toThrow(/job payload invalid/);
    expect(() => parseJobPayload(null)).toThrow(/job payload invalid at \(root\)/);
  });

  it('trace: optional (a job queued without it stays valid), a well-formed traceparent only, nothing else inside', () => {
    const trace = { traceparent: '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01', tracestate: 'a=1' };
    expect(parseJobPayload(good)).not.toHaveProperty('trace');
    expect(parseJobPayload({ ...good, trace })).toEqual({ ...good, trace });
    expect(() => parseJobPayload({ ...good, trace: { traceparent: 'not-a-context' } })).toThrow(/job payload invalid at trace.traceparent/);
    expect(() => parseJobPayload({ ...good, trace: { ...trace, baggage: 'user=alice' } })).toThrow(/job payload invalid at trace/);
    expect(() => parseJobPayload({ ...good, trace: { ...trace, tracestate: 'x'.repeat(513) } })).toThrow(/trace.tracestate/);
  });
});
