import { describe, expect, it } from 'vitest';
import {
  callListFilter,
  decideAuditRead,
  decideCallAccess,
  decideToolCall,
  decideToolReach,
  toolsToList,
  type CallListFilter,
  type ToolCallQuestion,
} from './decide.js';
import { approvalNeeded, approvalRulesSchema } from './approval.js';

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
    ['4 a service principal, even holding a credential, never runs an upstream tool', { principal: 'service' }, 'principal_has_no_upstream_account'],
    ['4 a service principal without the tool scope: the scope is named first', { principal: 'service', tokenScopes: [] }, 'insufficient_scope'],
    ['4b no credential', { credential: null }, 'credential_unavailable'],
    ['4b credential needs reauth', { credential: { ...active, status: 'reauth_required' } }, 'credential_unavailable'],
    ['4b credential of another provider', { credential: { ...active, provider: 'github' } }, 'credential_unavailable'],
    ['5 upstream scope not granted', { credential: { ...active, scopes: ['email'] } }, 'upstream_scope_missing'],
    ['6 all good', {}, true],
    ['6 a tool without upstream needs no credential', { tool: echo, tokenScopes: ['tools:echo'], credential: null }, true],
    ['6 a service principal runs a tool without upstream', { tool: echo, tokenScopes: ['tools:echo'], credential: null, principal: 'service' }, true],
  ])('%s', (_label, change, expected) => {
    const d = decideToolCall({ ...base, ...change });
    if (expected === true) expect(d).toEqual({ allow: true });
    else expect(d).toMatchObject({ allow: false, code: expected });
  });

  it('names the scope to step up to', () => {
    expect(decideToolCall({ ...base, tokenScopes: [] })).toMatchObject({ requiredScope: 'tools:whoami' });
  });
});

describe('decideToolCall: what to connect', () => {
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

describe('decideCallAccess: who may see or cancel a call (decide.ts table)', () => {
  const widget = 'weather-widget';
  const call: { tool: string; clientId: string | null } = { tool: 'web_search', clientId: 'chat-app' };
  const ask = (scopes: string[], o: { action?: 'read' | 'cancel'; clientId?: string | undefined; call?: Partial<typeof call> } = {}) =>
    decideCallAccess({
      token: { scopes, clientId: 'clientId' in o ? o.clientId : widget },
      action: o.action ?? 'read',
      call: { ...call, ...o.call },
      toolScope: o.call?.tool === 'gone' ? undefined : `tools:${o.call?.tool ?? call.tool}`,
    });
  const own = { call: { clientId: widget } };

  it.each<[string, string[], Parameters<typeof ask>[1], true | 'not_found' | 'insufficient_scope']>([
    ['1 same client with the tool scope: read', ['tools:web_search'], own, true],
    ['1 same client with the tool scope: cancel', ['tools:web_search'], { ...own, action: 'cancel' }, true],
    ['4 same client without the tool scope', ['tools:whoami'], own, 'not_found'],
    ['4 same client, empty scope', [], own, 'not_found'],
    ['4 same client, empty scope: cancel', [], { ...own, action: 'cancel' }, 'not_found'],
    ['4 another client with the tool scope', ['tools:web_search'], {}, 'not_found'],
    ['4 another client: cancel', ['tools:web_search', 'tools:whoami'], { action: 'cancel' }, 'not_found'],
    ['4 a call recorded without a client, same scopes', ['tools:web_search'], { call: { clientId: null } }, 'not_found'],
    ['4 a token without a client never matches a call without one', ['tools:web_search'], { clientId: undefined, call: { clientId: null } }, 'not_found'],
    ['4 a tool this deployment no longer has', ['tools:gone'], { call: { clientId: widget, tool: 'gone' } }, 'not_found'],
    ['3 calls:read sees another client', ['calls:read'], {}, true],
    ['3 calls:read sees a call recorded without a client', ['calls:read'], { call: { clientId: null } }, true],
    ['3 calls:read does not cancel another client', ['calls:read'], { action: 'cancel' }, 'insufficient_scope'],
    ['2 calls:cancel cancels another client', ['calls:cancel'], { action: 'cancel' }, true],
    ['2 calls:cancel includes seeing', ['calls:cancel'], {}, true],
    ['audit:read is not calls:read', ['audit:read', 'tools:whoami'], {}, 'not_found'],
  ])('%s', (_label, scopes, o, expected) => {
    const d = ask(scopes, o);
    if (expected === true) expect(d).toEqual({ allow: true });
    else expect(d).toMatchObject({ allow: false, code: expected });
  });

  it('the refused cancel of a readable call names calls:cancel', () => {
    expect(ask(['calls:read'], { action: 'cancel' })).toMatchObject({ requiredScope: 'calls:cancel' });
  });
});

describe('callListFilter: the list form of decideCallAccess(read)', () => {
  const tools = [
    { name: 'whoami', mcpScope: 'tools:whoami' },
    { name: 'web_search', mcpScope: 'tools:web_search' },
    { name: 'echo', mcpScope: 'tools:echo' },
  ];
  it.each<[string, string[], string | undefined, CallListFilter]>([
    ['calls:read: everything', ['calls:read'], 'w', { all: true }],
    ['calls:cancel: everything', ['calls:cancel'], 'w', { all: true }],
    ['tool scopes: that client, those tools', ['tools:whoami', 'tools:echo'], 'w', { all: false, clientId: 'w', tools: ['whoami', 'echo'] }],
    ['empty scope: nothing', [], 'w', { all: false, clientId: 'w', tools: [] }],
    ['no client: nothing', ['tools:whoami'], undefined, { all: false, clientId: null, tools: [] }],
  ])('%s', (_label, scopes, clientId, expected) => {
    expect(callListFilter({ scopes, clientId }, tools)).toEqual(expected);
  });

  it('agrees with decideCallAccess(read) on every combination', () => {
    const scopeSets = [[], ['tools:whoami'], ['tools:web_search', 'tools:echo'], ['calls:read'], ['calls:cancel'], ['audit:read']];
    const clients = [undefined, 'a', 'b'];
    for (const scopes of scopeSets)
      for (const clientId of clients) {
        const f = callListFilter({ scopes, clientId }, tools);
        for (const tool of [...tools.map((t) => t.name), 'gone'])
          for (const callClient of [null, 'a', 'b']) {
            const listed = f.all || (f.clientId === callClient && f.tools.includes(tool));
            const d = decideCallAccess({
              token: { scopes, clientId },
              action: 'read',
              call: { tool, clientId: callClient },
              toolScope: tools.find((t) => t.name === tool)?.mcpScope,
            });
            expect([scopes, clientId, tool, callClient, listed]).toEqual([scopes, clientId, tool, callClient, d.allow]);
          }
      }
  });
});

describe('decideAuditRead', () => {
  it.each<[string[], boolean]>([
    [['audit:read'], true],
    [['tools:whoami', 'calls:read', 'calls:cancel'], false],
    [[], false],
  ])('%j → %s', (scopes, allowed) => {
    const d = decideAuditRead({ scopes });
    expect(d.allow).toBe(allowed);
    if (!d.allow) expect(d).toMatchObject({ code: 'insufficient_scope', requiredScope: 'audit:read' });
  });
});

describe('toolsToList: tools/list by the rule tools/call applies', () => {
  const search = { name: 'web_search', mcpScope: 'tools:web_search' };
  const tools = [whoami, echo, search];
  const tenant = { enabledTools: ['whoami', 'echo'], toolListing: 'allowed' as const };

  it('lists exactly the tools decideToolReach allows, in registry order', () => {
    for (const tokenScopes of [[], ['tools:echo'], ['tools:whoami', 'tools:echo', 'tools:web_search']]) {
      const listed = toolsToList({ tenant, tools, tokenScopes }).map((l) => l.tool.name);
      expect(listed).toEqual(tools.filter((tool) => decideToolReach({ tenant, tool, tokenScopes }).allow).map((t) => t.name));
    }
  });

  it('does not hide a tool for a missing upstream credential (calling it offers the connect link)', () => {
    expect(toolsToList({ tenant, tools: [whoami], tokenScopes: ['tools:whoami'] })).toEqual([{ tool: whoami }]);
  });

  it('all_with_hints: a tool lacking only the scope is listed locked with that scope; a disabled one never', () => {
    const listed = toolsToList({ tenant: { ...tenant, toolListing: 'all_with_hints' }, tools, tokenScopes: ['tools:echo'] });
    expect(listed.map((l) => [l.tool.name, l.locked?.requiredScope])).toEqual([
      ['whoami', 'tools:whoami'],
      ['echo', undefined],
    ]);
  });
});

describe('approvalNeeded: which calls wait for a person', () => {
  const rules = approvalRulesSchema.parse([
    { tool: 'send_email', approver: 'tenant', when: { argument: 'to', equals: 'ceo@example.com' } },
    { tool: 'send_email', approver: 'user' },
  ]);
  it('first matching rule wins; a condition compares one top-level argument for equality', () => {
    expect(approvalNeeded(rules, 'send_email', { to: 'ceo@example.com' })?.approver).toBe('tenant');
    expect(approvalNeeded(rules, 'send_email', { to: 'bob@example.com' })?.approver).toBe('user');
    expect(approvalNeeded(rules, 'echo', { to: 'ceo@example.com' })).toBeUndefined();
  });
  it('the rules are validated: unknown approvers, extra keys and nested conditions are refused', () => {
    expect(approvalRulesSchema.safeParse([{ tool: 'echo', approver: 'admin' }]).success).toBe(false);
    expect(approvalRulesSchema.safeParse([{ tool: 'echo', approver: 'user', extra: 1 }]).success).toBe(false);
    expect(approvalRulesSchema.safeParse([{ tool: 'echo', approver: 'user', when: { argument: 'a', equals: { $ne: 1 } } }]).success).toBe(false);
  });
});
