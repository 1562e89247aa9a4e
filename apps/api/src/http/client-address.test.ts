import { describe, expect, it } from 'vitest';
import { rateLimitClientKey } from './client-address.js';

describe('rateLimitClientKey', () => {
  it('counts an IPv4 address as it is, written plain or IPv4-mapped', () => {
    expect(rateLimitClientKey('203.0.113.7')).toBe('203.0.113.7');
    expect(rateLimitClientKey('::ffff:203.0.113.7')).toBe('203.0.113.7');
    expect(rateLimitClientKey('::FFFF:cb00:7107')).toBe('203.0.113.7');
  });
  it('counts an IPv6 address by its /64, however it is written', () => {
    const key = rateLimitClientKey('2001:db8:1:2:aaaa::1');
    expect(key).toBe('2001:db8:1:2::/64');
    expect(rateLimitClientKey('2001:0DB8:0001:0002:ffff:ffff:ffff:ffff')).toBe(key);
    expect(rateLimitClientKey('2001:db8:1:2::7%eth0')).toBe(key);
    expect(rateLimitClientKey('2001:db8:1:3::1')).not.toBe(key);
  });
  it('keeps any other text as given', () => {
    expect(rateLimitClientKey(' proxy-name ')).toBe('proxy-name');
    expect(rateLimitClientKey('999.1.1.1')).toBe('999.1.1.1');
  });
});
