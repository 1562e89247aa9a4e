import { readFileSync } from 'node:fs';
import * as tls from 'node:tls';

/**
 * The CA certificates outbound TLS trusts when `EGRESS_EXTRA_CA_PEM` is set: everything Node trusts by
 * default — its bundled CAs, the CAs of `NODE_EXTRA_CA_CERTS` and, with `--use-system-ca`, the system
 * store — *plus* the extra PEM. Giving TLS a `ca` list replaces Node's defaults, and
 * `tls.rootCertificates` is only the bundled part: built from it, the list silently dropped the CAs of
 * `NODE_EXTRA_CA_CERTS`. `tls.getCACertificates('default')` (Node ≥ 22.15) is the exact default set;
 * older Node 22 gets the bundled CAs and the `NODE_EXTRA_CA_CERTS` file read the way Node reads it.
 */
export function trustedCertificates(extraCaPem: string, nodeExtraCaFile?: string): string[] {
  const getCa = (tls as { getCACertificates?: (type?: 'default' | 'system' | 'bundled' | 'extra') => string[] }).getCACertificates;
  const defaults = typeof getCa === 'function' ? getCa('default') : [...tls.rootCertificates, ...readCaFile(nodeExtraCaFile)];
  return [...defaults, extraCaPem];
}

/** The PEM file NODE_EXTRA_CA_CERTS names, if readable (Node itself only warns about one it cannot read). */
export function readCaFile(file: string | undefined): string[] {
  if (!file) return [];
  try {
    return [readFileSync(file, 'utf8')];
  } catch {
    return [];
  }
}
