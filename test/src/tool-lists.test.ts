import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CLIENT_KINDS, startStack, type Stack } from './harness/stack.js';

/**
 * `tools/list` shows a caller only what its token may call, decided by the same policy rule as
 * `tools/call` (`decideToolReach`), in both protocol eras and with every official SDK client. A
 * tenant that lists everything marks the rest locked, naming the scope that unlocks each.
 */
const LOCKED = 'io.mcprt/locked';
type Listed = { name: string; description?: string; _meta?: Record<string, unknown> };

describe('tool lists per caller', () => {
  let allowed: Stack;
  let hints: Stack;
  beforeAll(async () => {
    [allowed, hints] = await Promise.all([
      startStack({ label: 'toollist-allowed', enabledTools: ['whoami', 'web_search', 'echo'] }),
      startStack({ label: 'toollist-hints', enabledTools: ['whoami', 'echo'], toolListing: 'all_with_hints' }),
    ]);
  }, 60_000);
  afterAll(async () => {
    await Promise.allSettled([allowed?.close(), hints?.close()]);
  });

  const names = (tools: Listed[]) => tools.map((t) => t.name).sort();

  for (const kind of CLIENT_KINDS) {
    it(`${kind}: lists only the tools the token's scopes allow, and tools/call agrees`, async () => {
      const client = await allowed.client(await allowed.token('alice', { scope: 'tools:echo' }), { kind });
      const { tools } = (await client.listTools()) as { tools: Listed[] };
      expect(names(tools)).toEqual(['echo', 'tool_call_result']);
      expect(tools.some((t) => t._meta?.[LOCKED])).toBe(false);
      // What the list hides, tools/call refuses for the same reason (the step-up challenge names the scope).
      await expect(client.callTool({ name: 'whoami', arguments: {} })).rejects.toThrow(/insufficient_scope|403|tools:whoami/);
      await client.close();

      const all = await allowed.client(await allowed.token('alice'), { kind });
      expect(names(((await all.listTools()) as { tools: Listed[] }).tools)).toEqual(['echo', 'tool_call_result', 'web_search', 'whoami']);
      await all.close();
    });
  }

  it('an empty scope lists only tool_call_result; a tool the tenant has not enabled never shows', async () => {
    const client = await allowed.client(await allowed.token('bob', { scope: '' }));
    expect(names(((await client.listTools()) as { tools: Listed[] }).tools)).toEqual(['tool_call_result']);
    await client.close();
    // web_search is not enabled at the hints tenant: not listed even locked, whatever the scopes say.
    const h = await hints.client(await hints.token('bob', { scope: 'tools:echo tools:web_search' }));
    expect(names(((await h.listTools()) as { tools: Listed[] }).tools)).toEqual(['echo', 'tool_call_result', 'whoami']);
    await h.close();
  });

  for (const kind of CLIENT_KINDS) {
    it(`${kind}: all_with_hints lists the rest locked, with the scope that unlocks each`, async () => {
      const client = await hints.client(await hints.token('carol', { scope: 'tools:echo' }), { kind });
      const { tools } = (await client.listTools()) as { tools: Listed[] };
      expect(names(tools)).toEqual(['echo', 'tool_call_result', 'whoami']);
      const whoami = tools.find((t) => t.name === 'whoami')!;
      expect(whoami._meta?.[LOCKED]).toEqual({ requiredScope: 'tools:whoami', message: expect.stringContaining('tools:whoami') });
      expect(whoami.description).toContain('tools:whoami');
      expect(tools.find((t) => t.name === 'echo')!._meta?.[LOCKED]).toBeUndefined();
      // Listed locked is still not callable: the same refusal as before.
      await expect(client.callTool({ name: 'whoami', arguments: {} })).rejects.toThrow(/insufficient_scope|403|tools:whoami/);
      await client.close();
    });
  }

  it('the database refuses a listing mode the policy does not define', async () => {
    await expect(allowed.db.sql`update tenants set tool_listing = 'everything' where id = ${allowed.tenant.id}`).rejects.toMatchObject({
      code: '23514',
      constraint_name: 'tenants_tool_listing_mode',
    });
  });
});
