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

describe('decideToolCall: a broader granted scope covers a narrower one (scope-implication.ts)', () => {
  const G = 'https://www.googleapis.com/auth/';
  const tool = (provider: string, scopes: string[]) => ({ name: 't', mcpScope: 'tools:t', upstream: { provider, scopes } });
  const ask = (provider: string, needs: string[], granted: string[]) =>
    decideToolCall({
      tenant: { enabledTools: ['t'] },
      tool: tool(provider, needs),
      tokenScopes: ['tools:t'],
      credential: { provider, status: 'active', scopes: granted },
    });

  it.each<[string, string, string, string[]]>([
    ['gmail.modify covers gmail.readonly', 'google', `${G}gmail.readonly`, [`${G}gmail.modify`]],
    ['https://mail.google.com/ covers gmail.readonly', 'google', `${G}gmail.readonly`, ['https://mail.google.com/']],
    ['gmail.modify covers gmail.metadata', 'google', `${G}gmail.metadata`, [`${G}gmail.modify`]],
    ['https://mail.google.com/ covers gmail.metadata', 'google', `${G}gmail.metadata`, ['openid', 'https://mail.google.com/']],
    ['calendar covers calendar.readonly', 'google', `${G}calendar.readonly`, [`${G}calendar`]],
    ['calendar covers calendar.events.readonly', 'google', `${G}calendar.events.readonly`, [`${G}calendar`]],
    ['calendar.events covers calendar.events.readonly', 'google', `${G}calendar.events.readonly`, [`${G}calendar.events`]],
    ['repo covers public_repo', 'github', 'public_repo', ['repo']],
    ['repo covers repo:status', 'github', 'repo:status', ['read:user', 'repo']],
    ['user covers read:user', 'github', 'read:user', ['user']],
  ])('%s', (_label, provider, needed, granted) => {
    expect(ask(provider, [needed], granted)).toEqual({ allow: true });
  });

  it.each<[string, string, string, string[]]>([
    ['gmail.readonly does not cover gmail.modify (narrower never covers broader)', 'google', `${G}gmail.modify`, [`${G}gmail.readonly`]],
    ['gmail.metadata does not cover gmail.readonly', 'google', `${G}gmail.readonly`, [`${G}gmail.metadata`]],
    ['calendar.events does not cover calendar.readonly (no calendarList)', 'google', `${G}calendar.readonly`, [`${G}calendar.events`]],
    ['calendar.readonly does not cover calendar.events', 'google', `${G}calendar.events`, [`${G}calendar.readonly`]],
    ['public_repo does not cover repo', 'github', 'repo', ['public_repo']],
    ['a Gmail scope covers nothing at Calendar', 'google', `${G}calendar.readonly`, ['https://mail.google.com/']],
    ["GitHub's repo means nothing at Google", 'google', 'public_repo', ['repo']],
    ["Google's scopes mean nothing at GitHub", 'github', `${G}gmail.readonly`, ['https://mail.google.com/']],
    ['no implication for the login IdP', 'idp', 'public_repo', ['repo']],
    ['a prototype key is not a row', 'github', 'public_repo', ['constructor', '__proto__']],
  ])('%s', (_label, provider, needed, granted) => {
    expect(ask(provider, [needed], granted)).toMatchObject({ allow: false, code: 'upstream_scope_missing', connect: { provider, scopes: [needed] } });
  });

  it('asks only for what the broader grant does not cover', () => {
    const d = ask('google', [`${G}gmail.readonly`, `${G}calendar.readonly`], [`${G}gmail.modify`]);
    expect(d).toMatchObject({ code: 'upstream_scope_missing', connect: { provider: 'google', scopes: [`${G}calendar.readonly`] } });
  });
});
