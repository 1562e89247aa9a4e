import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

import Provider from 'oidc-provider';

import { AccountDirectory, DEFAULT_DEV_ACCOUNTS } from './accounts.js';
import type { DevAccount } from './accounts.js';
import { DEV_CLIENT } from './dev-client.js';
import { DEV_MINT_PATH, handleDevMint } from './dev-mint-route.js';
import { sendJson } from './http-json.js';
import { INTERACTION_PREFIX, handleDevLogin } from './login-page.js';
import type { DevLoginClient } from './login-page.js';
import { ROUTES, buildProviderConfig } from './provider-config.js';
import { assertNotProduction } from './production-guard.js';
import { TokenMinter } from './token-minter.js';
import type { MintAccessTokenInput, MintUpstreamTokenInput, UpstreamToken } from './token-minter.js';

export interface StartDevIdpOptions {
  /** 0 (the default) picks a free port. */
  port?: number;
  /** Default 127.0.0.1. The issuer is `http://<host>:<port>`. */
  host?: string;
  /** Default: alice and bob ({@link DEFAULT_DEV_ACCOUNTS}). */
  accounts?: readonly DevAccount[];
  /** Default lifetime of every access token the IdP issues. Default 600. */
  accessTokenTtlSeconds?: number;
  /** Relying parties allowed to sign users in at the dev login page (`/interaction/:uid`). */
  loginClients?: readonly DevLoginClient[];
  /** Called for every HTTP request the IdP receives (tests count discovery and JWKS fetches). */
  onRequest?: (req: IncomingMessage) => void;
  /** Single-use refresh tokens: every refresh returns a new one; reusing a spent one revokes the grant. */
  rotateRefreshTokens?: boolean;
}

export interface DevIdp {
  readonly issuer: string;
  readonly jwksUri: string;
  readonly userinfoEndpoint: string;
  readonly tokenEndpoint: string;
  /** The client minted tokens belong to; it may redeem minted refresh tokens at `tokenEndpoint`. */
  readonly client: { readonly clientId: string; readonly clientSecret: string };
  readonly accounts: readonly DevAccount[];
  mintAccessToken(input: MintAccessTokenInput): Promise<string>;
  mintUpstreamToken(input: MintUpstreamTokenInput): Promise<UpstreamToken>;
  close(): Promise<void>;
}

type Handler = (req: IncomingMessage, res: ServerResponse) => void;

/**
 * Starts an OpenID provider (oidc-provider) for tests and the developer quick-start: in-memory
 * storage, a signing key generated per start, no login pages, plus `POST /dev/mint`.
 */
export async function startDevIdp(options: StartDevIdpOptions = {}): Promise<DevIdp> {
  assertNotProduction();
  const host = options.host ?? '127.0.0.1';
  const accounts = new AccountDirectory(options.accounts ?? DEFAULT_DEV_ACCOUNTS);
  const accessTokenTtlSeconds = options.accessTokenTtlSeconds ?? 600;

  // The issuer needs the real port, known only after listen(): route through a late-bound handler.
  let handler: Handler = (_req, res) => sendJson(res, 503, { error: 'temporarily_unavailable' });
  const onRequest = options.onRequest;
  const server = createServer((req, res) => {
    onRequest?.(req);
    handler(req, res);
  });
  const port = await listen(server, options.port ?? 0, host);
  const issuer = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;

  let minter: TokenMinter;
  try {
    const provider = new Provider(
      issuer,
      buildProviderConfig({
        accounts,
        accessTokenTtlSeconds,
        loginClients: options.loginClients ?? [],
        rotateRefreshTokens: options.rotateRefreshTokens ?? false,
      }),
    );
    minter = new TokenMinter(provider, accounts, accessTokenTtlSeconds);
    handler = dispatch(provider.callback(), { minter, accounts }, (req, res) => handleDevLogin(req, res, provider, accounts));
  } catch (err) {
    await closeServer(server);
    throw err;
  }

  let closing: Promise<void> | undefined;
  return {
    issuer,
    jwksUri: issuer + ROUTES.jwks,
    userinfoEndpoint: issuer + ROUTES.userinfo,
    tokenEndpoint: issuer + ROUTES.token,
    client: DEV_CLIENT,
    accounts: accounts.list(),
    mintAccessToken: (input) => minter.mintAccessToken(input),
    mintUpstreamToken: (input) => minter.mintUpstreamToken(input),
    close: () => (closing ??= closeServer(server)),
  };
}

function dispatch(
  providerCallback: Handler,
  deps: Parameters<typeof handleDevMint>[2],
  login: (req: IncomingMessage, res: ServerResponse) => Promise<void>,
): Handler {
  return (req, res) => {
    const path = (req.url ?? '/').split('?', 1)[0] ?? '/';
    if (path.startsWith(INTERACTION_PREFIX)) {
      login(req, res).catch(() => {
        if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
        else res.destroy();
      });
      return;
    }
    if (path !== DEV_MINT_PATH) {
      providerCallback(req, res);
      return;
    }
    handleDevMint(req, res, deps).catch(() => {
      // Details stay in the process; the dev CLI only needs to know it failed.
      if (!res.headersSent) sendJson(res, 500, { error: 'server_error' });
      else res.destroy();
    });
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve, reject) => {
    server.close((err) => (err ? reject(err) : resolve()));
    // Keep-alive sockets (fetch keeps them) would hold close() open until they time out.
    server.closeAllConnections();
  });
}
