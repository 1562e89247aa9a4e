import { isIPv4, isIPv6 } from 'node:net';

/**
 * The client a per-address limit counts: an IPv4 address as it is (written plain or IPv4-mapped,
 * `::ffff:203.0.113.7`: the same client), an IPv6 address by its /64 — the smallest network an IPv6
 * host is given, so one host holds 2^64 addresses and a limit per address would not limit it. Any
 * other text (a proxy that writes a name) is counted as given. Cost: only on the limited routes.
 */
export function rateLimitClientKey(address: string): string {
  const a = address.trim();
  if (isIPv4(a)) return a;
  const bare = a.split('%', 1)[0]!; // no zone id (fe80::1%eth0)
  if (!isIPv6(bare)) return a;
  const g = ipv6Groups(bare);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
  }
  return `${g
    .slice(0, 4)
    .map((x) => x.toString(16))
    .join(':')}::/64`;
}

/** The 8 groups of a valid IPv6 address (`::` expanded, an IPv4 tail as two groups). */
function ipv6Groups(address: string): number[] {
  let s = address.toLowerCase();
  const last = s.lastIndexOf(':');
  const tail = s.slice(last + 1);
  if (tail.includes('.')) {
    const [p, q, r, t] = tail.split('.').map(Number) as [number, number, number, number];
    s = `${s.slice(0, last + 1)}${((p << 8) | q).toString(16)}:${((r << 8) | t).toString(16)}`;
  }
  const [head, rest] = s.split('::') as [string, string | undefined];
  const h = head ? head.split(':') : [];
  const r = rest ? rest.split(':') : [];
  const fill = rest === undefined ? [] : Array<string>(8 - h.length - r.length).fill('0');
  return [...h, ...fill, ...r].map((x) => parseInt(x, 16));
}
