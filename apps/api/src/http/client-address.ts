import { isIP } from 'node:net';
import ipaddr from 'ipaddr.js';

/**
 * The client a per-address limit counts: an IPv4 address as it is (written plain or IPv4-mapped,
 * `::ffff:203.0.113.7`: the same client), an IPv6 address by its /64 — the smallest network an IPv6
 * host is given, so one host holds 2^64 addresses and a limit per address would not limit it. Any
 * other text (a proxy that writes a name) is counted as given. Cost: only on the limited routes.
 */
export function rateLimitClientKey(address: string): string {
  const a = address.trim();
  const bare = a.split('%', 1)[0]!; // no zone id (fe80::1%eth0)
  if (!isIP(bare)) return a;
  const ip = ipaddr.process(bare); // an IPv4-mapped IPv6 address becomes the IPv4 one
  if (ip.kind() === 'ipv4') return ip.toString();
  const groups = (ip as ipaddr.IPv6).parts.slice(0, 4).map((x) => x.toString(16));
  return `${groups.join(':')}::/64`;
}
