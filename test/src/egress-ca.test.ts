import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { namespace, testEnv } from './harness/test-config.js';

/**
 * Which certificate authorities outbound TLS trusts (the egress of the API and the worker, for
 * tools, issuer discovery, JWKS and Client ID Metadata Documents). Three private CAs made with
 * openssl, each signing a certificate for a loopback https server:
 * - A is given the Node way, `NODE_EXTRA_CA_CERTS` (a file, read when the process starts);
 * - B is given the runtime's way, `EGRESS_EXTRA_CA_PEM`;
 * - C is given nowhere.
 * A child process builds its egress exactly as the apps do (harness/egress-probe.ts) and requests all
 * three. With both settings, A and B must be reached and C refused: setting `EGRESS_EXTRA_CA_PEM` used
 * to replace the CA list with Node's bundled CAs plus B, silently dropping A.
 */

const run = promisify(execFile);
const root = fileURLToPath(new URL('../..', import.meta.url));

interface Ca {
  certFile: string;
  pem: string;
  server: Server;
  url: string;
}

const dir = mkdtempSync(join(tmpdir(), 'mcprt-egress-ca-'));
const openssl = (...args: string[]) => execFileSync('openssl', args, { stdio: 'ignore' });

/** A CA and a loopback https server whose certificate (127.0.0.1, localhost) it signed. */
async function caWithServer(name: string): Promise<Ca> {
  const f = (x: string) => join(dir, `${name}-${x}`);
  const curve = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(
    'req',
    '-x509',
    ...curve,
    '-days',
    '1',
    '-keyout',
    f('ca.key'),
    '-out',
    f('ca.pem'),
    '-subj',
    `/CN=mcprt test CA ${name}`,
    '-addext',
    'basicConstraints=critical,CA:TRUE',
    '-addext',
    'keyUsage=critical,keyCertSign,cRLSign',
  );
  openssl('req', '-new', ...curve, '-keyout', f('leaf.key'), '-out', f('leaf.csr'), '-subj', '/CN=localhost');
  writeFileSync(f('leaf.ext'), 'subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n');
  openssl(
    'x509',
    '-req',
    '-in',
    f('leaf.csr'),
    '-CA',
    f('ca.pem'),
    '-CAkey',
    f('ca.key'),
    '-CAcreateserial',
    '-days',
    '1',
    '-out',
    f('leaf.pem'),
    '-extfile',
    f('leaf.ext'),
  );
  const server = createServer({ key: readFileSync(f('leaf.key')), cert: readFileSync(f('leaf.pem')) }, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain' }).end(`hello from ${name}`);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { certFile: f('ca.pem'), pem: readFileSync(f('ca.pem'), 'utf8'), server, url: `https://127.0.0.1:${(server.address() as AddressInfo).port}/` };
}

/** What a fresh process with this environment reaches through its egress. */
async function probe(env: Record<string, string>, urls: string[]) {
  // The probe opens no database: an address nothing listens on.
  const base = testEnv({ port: 1, queuePrefix: namespace('egress-ca').queuePrefix, databaseUrl: 'postgres://unused@127.0.0.1:1/unused' });
  const { stdout } = await run(process.execPath, ['--import', 'tsx', 'test/src/harness/egress-probe.ts', ...urls], {
    cwd: root,
    env: { PATH: process.env.PATH ?? '', ...base, ...env },
    timeout: 60_000,
  });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, { status?: number; error?: string; cause?: string }>;
}

describe('outbound TLS trust: EGRESS_EXTRA_CA_PEM adds to the CAs Node trusts, it does not replace them', () => {
  let a: Ca, b: Ca, c: Ca;
  beforeAll(async () => {
    [a, b, c] = await Promise.all([caWithServer('a'), caWithServer('b'), caWithServer('c')]);
  });
  afterAll(async () => {
    await Promise.all([a, b, c].map((x) => x && new Promise((r) => x.server.close(r))));
  });

  it('with NODE_EXTRA_CA_CERTS (CA A) and EGRESS_EXTRA_CA_PEM (CA B): A and B are reached, an unknown CA is refused', async () => {
    const out = await probe({ NODE_EXTRA_CA_CERTS: a.certFile, EGRESS_EXTRA_CA_PEM: b.pem }, [a.url, b.url, c.url]);
    expect(out[a.url]).toEqual({ status: 200 });
    expect(out[b.url]).toEqual({ status: 200 });
    expect(out[c.url]).toMatchObject({ error: 'upstream_unreachable', cause: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });

  it('an EGRESS_EXTRA_CA_PEM bundle of several CAs trusts each of them, and still those of NODE_EXTRA_CA_CERTS', async () => {
    const out = await probe({ NODE_EXTRA_CA_CERTS: a.certFile, EGRESS_EXTRA_CA_PEM: `${b.pem}\n${c.pem}` }, [a.url, b.url, c.url]);
    expect(out[a.url]).toEqual({ status: 200 });
    expect(out[b.url]).toEqual({ status: 200 });
    expect(out[c.url]).toEqual({ status: 200 });
  });

  it('without EGRESS_EXTRA_CA_PEM: Node’s defaults, NODE_EXTRA_CA_CERTS included, and nothing else', async () => {
    const out = await probe({ NODE_EXTRA_CA_CERTS: a.certFile }, [a.url, b.url]);
    expect(out[a.url]).toEqual({ status: 200 });
    expect(out[b.url]).toMatchObject({ error: 'upstream_unreachable', cause: 'UNABLE_TO_VERIFY_LEAF_SIGNATURE' });
  });
});
