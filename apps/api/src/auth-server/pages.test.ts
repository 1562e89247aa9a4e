import { describe, expect, it } from 'vitest';
import { consentPage, scopeItems } from './pages.js';

describe('scopes as the consent and account pages show them', () => {
  it('history scopes first, in plain words and bold; tool scopes after; nothing → sign-in only', () => {
    const html = scopeItems(['tools:whoami', 'audit:read', 'calls:read']);
    expect(html.indexOf('See the tool calls and results of your other apps')).toBeGreaterThan(-1);
    expect(html.indexOf('See the audit history of your account')).toBeGreaterThan(-1);
    expect(html.indexOf('<strong>See the tool calls')).toBeLessThan(html.indexOf('<code>tools:whoami</code>'));
    expect(html.indexOf('<strong>See the audit history')).toBeLessThan(html.indexOf('<code>tools:whoami</code>'));
    expect(scopeItems([])).toBe('<li>sign-in only</li>');
  });
  it('escapes what it shows', () => {
    expect(scopeItems(['tools:<x>'])).toBe('<li><code>tools:&lt;x&gt;</code></li>');
  });
  it('the consent page lists them the same way', () => {
    const html = consentPage({
      clientName: 'Widget',
      clientId: 'c1',
      tenantName: 'Acme',
      redirectHost: '127.0.0.1',
      scopes: ['calls:cancel', 'tools:echo'],
      action: '/t/acme/interaction/x/confirm',
      csrf: 'k',
    });
    expect(html).toContain(scopeItems(['calls:cancel', 'tools:echo']));
  });
});
