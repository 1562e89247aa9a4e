import { describe, expect, it } from 'vitest';
import { jsonSchemaOf } from './input-schema.js';
import { CONFORMANCE_TOOLS, createToolRegistry, parseArguments } from './registry.js';

describe('tool registry', () => {
  it("hides test-only tools unless asked, and filters by the tenant's enabled list", () => {
    expect(createToolRegistry({ includeTestTools: false }).names()).toEqual([
      'whoami',
      'web_search',
      'email_search',
      'email_read',
      'calendar_read',
      'github_repos',
      'github_search_code',
      'github_read_file',
    ]);
    const r = createToolRegistry({ includeTestTools: true });
    expect(r.enabledFor(['web_search', 'nope']).map((t) => t.name)).toEqual(['web_search']);
  });

  it("the conformance suite's fixture tools exist only in test deployments", () => {
    expect(CONFORMANCE_TOOLS.length).toBeGreaterThanOrEqual(14);
    const prod = createToolRegistry({ includeTestTools: false });
    const test = createToolRegistry({ includeTestTools: true });
    for (const name of CONFORMANCE_TOOLS) {
      expect(prod.get(name), name).toBeUndefined();
      expect(test.get(name)?.testOnly, name).toBe(true);
    }
    // A production tenant whose tool list named them still gets none.
    expect(prod.enabledFor([...CONFORMANCE_TOOLS])).toEqual([]);
  });

  it('every tool carries the contract later layers build on', () => {
    for (const t of createToolRegistry({ includeTestTools: true }).enabledFor(['whoami', 'web_search', 'echo', 'github_profile'])) {
      expect(t.mcpScope).toMatch(/^tools:/);
      expect(t.timeoutMs).toBeGreaterThan(0);
      expect(jsonSchemaOf(t.input, 'input').type).toBe('object');
      if (t.output) expect(jsonSchemaOf(t.output, 'output').type).toBe('object');
    }
    const whoami = createToolRegistry({ includeTestTools: false }).get('whoami')!;
    // Any sign-in at the IdP (OIDC, or GitHub without `openid`) lets whoami ask who the user is.
    expect(whoami.upstream).toEqual({ provider: 'idp', scopes: [] });
    // The test-only tool that needs a connected provider with more than its sign-in scopes.
    expect(createToolRegistry({ includeTestTools: false }).get('github_profile')).toBeUndefined();
    expect(createToolRegistry({ includeTestTools: true }).get('github_profile')!.upstream).toEqual({ provider: 'github', scopes: ['read:user', 'repo'] });
  });

  it('names every failing field', () => {
    const search = createToolRegistry({ includeTestTools: false }).get('web_search')!;
    const r = parseArguments(search, { query: '', country: 'germany', extra: true });
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.message).toMatch(/query/);
      expect(r.message).toMatch(/country/);
      expect(r.message).toMatch(/extra/);
    }
    expect(parseArguments(search, { query: ' hi ' })).toEqual({ ok: true, value: { query: 'hi', page: 1, max_results: 10 } });
  });
});
