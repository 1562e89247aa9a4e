import { describe, expect, it } from 'vitest';
import { decideToolCall, type ToolCallQuestion } from './decide.js';

const whoami = { name: 'whoami', mcpScope: 'tools:whoami', upstream: { provider: 'idp', scopes: ['openid'] } };
const echo = { name: 'echo', mcpScope: 'tools:echo' };
const active = { provider: 'idp', status: 'active', scopes: ['openid', 'email'] };
const base: ToolCallQuestion = { tenant: { enabledTools: ['whoami', 'echo'] }, tool: whoami, tokenScopes: ['tools:whoami'], credential: active };

/** The decision table in decide.ts, row by row. */
describe('decideToolCall', () => {
  it.each<[string, Partial<ToolCallQuestion>, string | true]>([
    ['1 unknown tool', { tool: undefined }, 'unknown_tool'],
    ['2 tool not enabled for the tenant', { tenant: { enabledTools: ['echo'] } }, 'tool_disabled'],
    ['3 token without the tool scope', { tokenScopes: ['tools:echo'] }, 'insufficient_scope'],
    ['3 token with no scope at all', { tokenScopes: [] }, 'insufficient_scope'],
    ['3 scopes unknown (worker): not decided here', { tokenScopes: undefined }, true],
    ['4 no credential', { credential: null }, 'credential_unavailable'],
    ['4 credential needs reauth', { credential: { ...active, status: 'reauth_required' } }, 'credential_unavailable'],
    ['4 credential of another provider', { credential: { ...active, provider: 'github' } }, 'credential_unavailable'],
    ['5 upstream scope not granted', { credential: { ...active, scopes: ['email'] } }, 'upstream_scope_missing'],
    ['6 all good', {}, true],
    ['6 a tool without upstream needs no credential', { tool: echo, tokenScopes: ['tools:echo'], credential: null }, true],
  ])('%s', (_label, change, expected) => {
    const d = decideToolCall({ ...base, ...change });
    if (expected === true) expect(d).toEqual({ allow: true });
    else expect(d).toMatchObject({ allow: false, code: expected });
  });

  it('names the scope to step up to', () => {
    expect(decideToolCall({ ...base, tokenScopes: [] })).toMatchObject({ requiredScope: 'tools:whoami' });
  });
});

describe('decideToolCall: what to connect (issue 8 §8)', () => {
  const github = { name: 'gh', mcpScope: 'tools:gh', upstream: { provider: 'github', scopes: ['read:user', 'repo'] } };
  const q = { ...base, tenant: { enabledTools: ['gh'] }, tool: github, tokenScopes: ['tools:gh'] };
  it('no credential: connect the provider with every scope the tool needs', () => {
    expect(decideToolCall({ ...q, credential: null })).toMatchObject({
      code: 'credential_unavailable',
      connect: { provider: 'github', scopes: ['read:user', 'repo'] },
    });
  });
  it('a credential missing a scope: ask only for the missing ones', () => {
    const d = decideToolCall({ ...q, credential: { provider: 'github', status: 'active', scopes: ['read:user'] } });
    expect(d).toMatchObject({ code: 'upstream_scope_missing', connect: { provider: 'github', scopes: ['repo'] } });
  });
});
