import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { captureLogs } from './harness/secret-scan.js';
import { SCAVIO_KEY, startStack, type Stack } from './harness/stack.js';

/** Tokens are never logged. Run real calls with trace-level logs and read every line. */
describe('logs', () => {
  const { log, lines } = captureLogs({ level: 'trace' });
  let s: Stack;
  let mcpToken: string;
  let upstream: string;

  beforeAll(async () => {
    s = await startStack({ label: 'logs', log });
    upstream = (await s.connectUser('alice')).upstreamAccessToken;
    mcpToken = await s.token('alice');
  });
  afterAll(() => s?.close());

  it('carry request id, tenant, user and call id, and no token or key', async () => {
    const client = await s.client(mcpToken);
    const res = CallToolResultSchema.parse(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(res.isError).toBeFalsy();
    await client.callTool({ name: 'web_search', arguments: { query: 'logging' } });
    await s.post({ jsonrpc: '2.0', id: 9, method: 'tools/list' }, { authorization: `Bearer ${mcpToken}x` }); // a refused token

    const all = lines.join('');
    expect(all).not.toContain(mcpToken.slice(0, 40));
    expect(all).not.toContain(upstream);
    expect(all).not.toContain(SCAVIO_KEY);
    const accepted = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'tool call accepted');
    expect(accepted).toMatchObject({
      tenant: s.tenant.slug,
      tool: 'whoami',
      callId: expect.stringMatching(/^call_/),
      requestId: expect.any(String),
      userId: expect.any(String),
    });
    const done = lines.map((l) => JSON.parse(l) as Record<string, unknown>).find((l) => l.msg === 'tool call succeeded' && l.callId === accepted!.callId);
    expect(done).toMatchObject({ tenantId: s.tenant.id, userId: accepted!.userId });
  });
});
