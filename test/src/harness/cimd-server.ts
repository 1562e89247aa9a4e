import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLIENT_REDIRECT } from './oauth-provider.js';

/** A self-signed certificate for `localhost` that is its own CA (made with openssl): trust it with EGRESS_EXTRA_CA_PEM. */
export function localhostCertificate(): { key: string; cert: string } {
  const dir = mkdtempSync(join(tmpdir(), 'mcprt-cimd-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-keyout',
      join(dir, 'key.pem'),
      '-out',
      join(dir, 'cert.pem'),
      '-subj',
      '/CN=localhost',
      '-addext',
      'subjectAltName=DNS:localhost',
      '-addext',
      'basicConstraints=critical,CA:TRUE',
    ],
    { stdio: 'ignore' },
  );
  return { key: readFileSync(join(dir, 'key.pem'), 'utf8'), cert: readFileSync(join(dir, 'cert.pem'), 'utf8') };
}

/**
 * An https origin on loopback serving Client ID Metadata Documents (or redirects), counting the
 * requests per path. Two of them with the same certificate are two origins (different ports).
 */
export async function startCimdOrigin(tls: { key: string; cert: string }) {
  const fetches = new Map<string, number>();
  const routes = new Map<string, { doc: Record<string, unknown> } | { location: string; status: number }>();
  const server = createServer(tls, (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0]!;
    fetches.set(path, (fetches.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (!route) res.writeHead(404).end();
    else if ('location' in route) res.writeHead(route.status, { location: route.location }).end();
    else res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=300' }).end(JSON.stringify(route.doc));
  });
  await new Promise<void>((resolve) => server.listen(0, 'localhost', resolve));
  const origin = `https://localhost:${(server.address() as AddressInfo).port}`;
  return {
    origin,
    fetches,
    /** A public client's document at `path`; `clientId` defaults to the document's own URL. */
    publish(path: string, clientId?: string): string {
      const url = `${origin}${path}`;
      routes.set(path, {
        doc: {
          client_id: clientId ?? url,
          client_name: 'CIMD Test Client',
          client_uri: origin,
          redirect_uris: [CLIENT_REDIRECT],
          grant_types: ['authorization_code', 'refresh_token'],
          response_types: ['code'],
          token_endpoint_auth_method: 'none',
        },
      });
      return url;
    },
    /** `path` answers a redirect to `location`. */
    redirect(path: string, location: string, status = 302): string {
      routes.set(path, { location, status });
      return `${origin}${path}`;
    },
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
