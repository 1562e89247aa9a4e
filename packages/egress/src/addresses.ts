import { lookup as dnsLookup } from 'node:dns/promises';
import { isIP, type LookupFunction, type Socket } from 'node:net';
import ipaddr from 'ipaddr.js';
import { buildConnector } from 'undici';
import { trustedCertificates } from './ca.js';
import { notPublic } from './failures.js';

/** Resolves a host name to all its addresses (default: the system resolver, like `dns.lookup(all)`). */
export type Resolver = (hostname: string) => Promise<{ address: string; family: number }[]>;

/** 2000::/3, the only IPv6 block with global unicast addresses. */
const GLOBAL_UNICAST_V6 = ipaddr.parseCIDR('2000::/3');

/**
 * Whether an address may be reached from production: public unicast only. Uses ipaddr.js's range
 * table (loopback, private, carrier-grade NAT, link-local, multicast, broadcast, reserved 240/4,
 * documentation, benchmarking, unique-local, NAT64 64:ff9b::/96 and /48, 6to4, Teredo, …); IPv4-mapped
 * IPv6 is judged as the IPv4 address it carries; IPv6 outside 2000::/3 (e.g. IPv4-compatible ::a.b.c.d)
 * is refused. Anything that does not parse is refused.
 */
export function isPublicAddress(ip: string): boolean {
  if (!isIP(ip) || !ipaddr.isValid(ip)) return false;
  const addr = ipaddr.parse(ip);
  if (addr.kind() === 'ipv4') return addr.range() === 'unicast';
  const v6 = addr as ipaddr.IPv6;
  if (v6.isIPv4MappedAddress()) return v6.toIPv4Address().range() === 'unicast';
  return v6.range() === 'unicast' && v6.match(GLOBAL_UNICAST_V6);
}

export function isPrivateAddress(ip: string): boolean {
  return !isPublicAddress(ip);
}

export const systemResolver: Resolver = async (hostname) => dnsLookup(hostname, { all: true, verbatim: true });

/**
 * `lookup` for net/tls.connect: resolves once through `resolve` and refuses the answer if any address
 * in it is not public, so the connection can only go to an address that was checked.
 */
export function guardedLookup(resolve: Resolver, allowPrivate: boolean): LookupFunction {
  return (hostname, options, callback) => {
    const family = options.family === 4 || options.family === 'IPv4' ? 4 : options.family === 6 || options.family === 'IPv6' ? 6 : 0;
    resolve(hostname).then(
      (answer) => {
        const usable = family ? answer.filter((a) => a.family === family) : answer;
        const first = usable[0];
        if (!first) return callback(Object.assign(new Error(`getaddrinfo ENOTFOUND ${hostname}`), { code: 'ENOTFOUND', hostname }), '', 0);
        // The whole answer, not just the first address: with happy eyeballs net may try any of them.
        if (!allowPrivate && !answer.every((a) => isPublicAddress(a.address))) return callback(notPublic(hostname), '', 0);
        if (options.all) callback(null, usable);
        else callback(null, first.address, first.family);
      },
      (err: NodeJS.ErrnoException) => callback(err, '', 0),
    );
  };
}

/** undici connector: literals checked before connecting, names through the guarded lookup, the peer checked after. */
export function guardedConnector(resolve: Resolver, allowPrivate: boolean, extraCaPem?: string, nodeExtraCaFile?: string): buildConnector.connector {
  const ca = extraCaPem ? { ca: trustedCertificates(extraCaPem, nodeExtraCaFile) } : {};
  const base = buildConnector({ lookup: guardedLookup(resolve, allowPrivate), timeout: 10_000, ...ca });
  return (options, callback) => {
    if (allowPrivate) return base(options, callback);
    if (isIP(options.hostname) && !isPublicAddress(options.hostname)) return callback(notPublic(options.hostname), null);
    base(options, (err, socket) => {
      if (err) return callback(err, null);
      const peer = (socket as Socket).remoteAddress ?? '';
      if (!isPublicAddress(peer)) {
        socket.destroy();
        return callback(notPublic(options.hostname), null);
      }
      callback(null, socket);
    });
  };
}
