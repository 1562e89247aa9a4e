import { randomBytes, randomUUID } from 'node:crypto';
import { parseKeyring } from '@mcprt/keyring';
import { describe, expect, it } from 'vitest';
import { CONNECT_LINK_TTL_MS, connectLinkFor, openConnectLink, reconnectUrl } from './connect-link.js';

const keyring = parseKeyring(`k1:${randomBytes(32).toString('base64url')}`);
const tenant = { id: randomUUID(), slug: 'acme' };
const user = randomUUID();
const forOf = (url: string) => decodeURIComponent(/[?&]for=([^&]+)/.exec(url)![1]!);

describe('connect links', () => {
  it('reconnectUrl: /t/{slug}/connect/{provider}, scopes URL-encoded and space-separated', () => {
    expect(reconnectUrl('https://mcp.example', 'acme', 'github')).toBe('https://mcp.example/t/acme/connect/github');
    expect(reconnectUrl('https://mcp.example', 'acme', 'github', ['read:user', 'repo'])).toBe(
      'https://mcp.example/t/acme/connect/github?scopes=read%3Auser%20repo',
    );
    expect(reconnectUrl('https://mcp.example', 'acme', 'github', [])).toBe('https://mcp.example/t/acme/connect/github');
  });

  it('a link made for a user opens to that user, until it expires; only for its tenant and provider; tampering is refused', () => {
    const now = 1_800_000_000_000;
    const url = connectLinkFor(keyring, 'https://mcp.example', tenant, user, 'github', ['repo'], now);
    expect(url.startsWith('https://mcp.example/t/acme/connect/github?scopes=repo&for=')).toBe(true);
    const sealed = forOf(url);
    expect(sealed).not.toContain(user);
    expect(openConnectLink(keyring, tenant.id, 'github', sealed, now + 1000)).toEqual({ ok: true, userId: user });
    expect(openConnectLink(keyring, tenant.id, 'github', sealed, now + CONNECT_LINK_TTL_MS + 1)).toEqual({ ok: false, reason: 'expired' });
    expect(openConnectLink(keyring, tenant.id, 'google', sealed, now)).toEqual({ ok: false, reason: 'invalid' });
    expect(openConnectLink(keyring, randomUUID(), 'github', sealed, now)).toEqual({ ok: false, reason: 'invalid' });
    // The second-to-last character carries six whole bits of the tag; always change it to a different one.
    const flipped = sealed.slice(0, -2) + (sealed.at(-2) === 'A' ? 'B' : 'A') + sealed.slice(-1);
    expect(flipped).not.toBe(sealed);
    expect(openConnectLink(keyring, tenant.id, 'github', flipped, now)).toEqual({ ok: false, reason: 'invalid' });
    expect(openConnectLink(keyring, tenant.id, 'github', 'garbage', now)).toEqual({ ok: false, reason: 'invalid' });
  });
});
