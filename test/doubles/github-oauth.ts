/**
 * A local stand-in for GitHub's OAuth web flow (github.com), beside the REST API double (github.ts),
 * after GitHub's "Authorizing OAuth apps" documentation and docs/upstream-apis.md §5.7:
 *
 *   - `GET /login/oauth/authorize?client_id&redirect_uri&scope&state[&code_challenge&code_challenge_method=S256]`:
 *     an unknown client or a redirect URI not registered for it is an error page here (never a
 *     redirect); otherwise a sign-in page (pick a user), whose POST redirects to
 *     `redirect_uri?code=…&state=…` (GitHub OAuth apps: no `iss`, no ID token, no nonce).
 *   - `POST /login/oauth/access_token` (form: client_id, client_secret, code, redirect_uri, code_verifier):
 *     JSON when asked with `Accept: application/json`, else form-encoded; `scope` comma-separated;
 *     `token_type: bearer`; a bad code, secret or verifier answers **200** with
 *     `{ error: "bad_verification_code" | "incorrect_client_credentials", error_description, error_uri }` as GitHub does.
 *
 * Each issued `gho_…` token is registered with the API double, so `GET /user` answers for it with
 * `X-OAuth-Scopes`. Codes are single use and live 10 minutes.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { GithubDouble } from './github.js';
import type { GithubUser } from './github-fixtures.js';

export interface GithubOAuthClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export interface GithubOAuthDouble {
  /** The web base (what a tenant's GitHub `issuer` is set to), e.g. `http://127.0.0.1:40123`. */
  url: string;
  /** Every token issued, in order (tests look for them in logs, rows and Redis). */
  issued: { token: string; login: string; scopes: string[] }[];
  /** Every authorize request received (tests check what was asked for). */
  authorizeRequests: URL[];
  /** Every refresh token presented to the token endpoint. */
  refreshes: string[];
  /** Forgets a refresh token (the user revoked the app): its next use answers bad_refresh_token. */
  revokeRefreshToken(token: string): void;
  /**
   * The token response the web flow ends with, as if `login` had consented to `scopes` for `clientId`
   * (for tests that need a connected credential without the browser): the access token is registered
   * at the API double, the refresh token (with `expiresInSeconds`) at this token endpoint.
   */
  issueTokens(login: string, clientId: string, scopes: string[]): Record<string, string | number>;
  close(): Promise<void>;
}

export interface GithubOAuthOptions {
  api: GithubDouble;
  users: GithubUser[];
  clients: GithubOAuthClient[];
  /** Which of the requested scopes a user grants (default: all of them, as an OAuth app's user must). */
  grant?: (login: string, requested: string[]) => string[];
  /**
   * Expiring user tokens (GitHub Apps, and OAuth apps with token expiration on): `expires_in`, a
   * single-use `ghr_…` refresh token (`refresh_token_expires_in`), and `grant_type=refresh_token`;
   * a spent or unknown refresh token answers 200 `{ error: "bad_refresh_token" }`.
   */
  expiresInSeconds?: number;
}

interface PendingCode {
  clientId: string;
  redirectUri: string;
  login: string;
  scopes: string[];
  challenge: string | undefined;
  expiresAt: number;
}

const page = (body: string) =>
  `<!doctype html><html><head><meta charset="utf-8"><title>GitHub double</title></head><body data-login-double="github">${body}</body></html>`;

export async function startGithubOAuthDouble(opts: GithubOAuthOptions): Promise<GithubOAuthDouble> {
  const codes = new Map<string, PendingCode>();
  const firstToken = new Map<string, string>();
  const issued: GithubOAuthDouble['issued'] = [];
  const refreshTokens = new Map<string, { clientId: string; login: string; scopes: string[] }>();
  const refreshes: string[] = [];
  const authorizeRequests: URL[] = [];

  const html = (res: ServerResponse, status: number, body: string) => {
    res.writeHead(status, { 'content-type': 'text/html; charset=utf-8' }).end(page(body));
  };

  const authorize = async (req: IncomingMessage, res: ServerResponse, url: URL) => {
    const q = url.searchParams;
    const client = opts.clients.find((c) => c.clientId === q.get('client_id'));
    if (!client) return html(res, 404, '<h1>Not Found</h1>');
    const redirectUri = q.get('redirect_uri') ?? client.redirectUris[0]!;
    // GitHub: "The redirect_uri MUST match the registered callback URL for this application."
    if (!client.redirectUris.includes(redirectUri)) return html(res, 400, '<h1>The redirect_uri is not associated with this application.</h1>');
    const method = q.get('code_challenge_method');
    if (q.has('code_challenge') && method !== 'S256') return html(res, 400, '<h1>code_challenge_method must be S256</h1>');
    if (req.method === 'GET') {
      authorizeRequests.push(url);
      const options = opts.users.map((u) => `<button name="account" value="${u.login}">${u.login}</button>`).join('');
      return html(res, 200, `<h1>Sign in to GitHub to continue</h1><form method="post">${options}</form>`);
    }
    const login = new URLSearchParams(await body(req)).get('account');
    const user = opts.users.find((u) => u.login === login);
    if (!user) return html(res, 400, '<h1>Incorrect username or password.</h1>');
    const requested = (q.get('scope') ?? '').split(/[\s,]+/).filter(Boolean);
    const code = randomBytes(10).toString('hex');
    codes.set(code, {
      clientId: client.clientId,
      redirectUri,
      login: user.login,
      scopes: opts.grant ? opts.grant(user.login, requested) : requested,
      challenge: q.get('code_challenge') ?? undefined,
      expiresAt: Date.now() + 600_000,
    });
    const back = new URL(redirectUri);
    back.searchParams.set('code', code);
    if (q.has('state')) back.searchParams.set('state', q.get('state')!);
    res.writeHead(302, { location: back.href }).end();
  };

  const accessToken = async (req: IncomingMessage, res: ServerResponse) => {
    const form = new URLSearchParams(await body(req));
    const json = (req.headers.accept ?? '').includes('application/json');
    const answer = (o: Record<string, string | number>) => {
      if (json) res.writeHead(200, { 'content-type': 'application/json; charset=utf-8' }).end(JSON.stringify(o));
      else
        res
          .writeHead(200, { 'content-type': 'application/x-www-form-urlencoded; charset=utf-8' })
          .end(new URLSearchParams(Object.entries(o).map(([k, v]): [string, string] => [k, String(v)])).toString());
    };
    const fail = (error: string, description: string) =>
      answer({
        error,
        error_description: description,
        error_uri: `https://docs.github.com/apps/managing-oauth-apps/troubleshooting-oauth-app-access-token-request-errors/#${error.replace(/_/g, '-')}`,
      });
    const client = opts.clients.find((c) => c.clientId === form.get('client_id'));
    if (!client || client.clientSecret !== form.get('client_secret'))
      return fail('incorrect_client_credentials', 'The client_id and/or client_secret passed are incorrect.');
    if (form.get('grant_type') === 'refresh_token') {
      const presented = form.get('refresh_token') ?? '';
      const held = refreshTokens.get(presented);
      refreshTokens.delete(presented); // single use
      refreshes.push(presented);
      if (!held || held.clientId !== client.clientId) return fail('bad_refresh_token', 'The refresh token passed is incorrect or expired.');
      return answer(issue(held.login, held.scopes, client.clientId));
    }
    const code = form.get('code') ?? '';
    const pending = codes.get(code);
    codes.delete(code); // single use, whatever happens next
    const verifier = form.get('code_verifier');
    const pkceOk = pending?.challenge === undefined || (verifier !== null && createHash('sha256').update(verifier).digest('base64url') === pending.challenge);
    if (!pending || pending.clientId !== client.clientId || pending.expiresAt < Date.now() || !pkceOk)
      return fail('bad_verification_code', 'The code passed is incorrect or expired.');
    if (form.has('redirect_uri') && form.get('redirect_uri') !== pending.redirectUri)
      return fail('redirect_uri_mismatch', 'The redirect_uri MUST match the registered callback URL for this application.');
    answer(issue(pending.login, pending.scopes, client.clientId));
  };

  const issue = (login: string, scopes: string[], clientId: string): Record<string, string | number> => {
    const expiring = opts.expiresInSeconds !== undefined;
    const token = `${expiring ? 'ghu' : 'gho'}_${randomBytes(18).toString('base64url')}`;
    const user = opts.users.find((u) => u.login === login)!;
    const first = firstToken.get(user.login);
    if (first) opts.api.addToken(token, { sameUserAs: first, scopes });
    else {
      opts.api.addUser(token, { scopes, data: { user } });
      firstToken.set(user.login, token);
    }
    issued.push({ token, login: user.login, scopes });
    const out: Record<string, string | number> = { access_token: token, scope: scopes.join(','), token_type: 'bearer' };
    if (expiring) {
      const refresh = `ghr_${randomBytes(24).toString('base64url')}`;
      refreshTokens.set(refresh, { clientId, login, scopes });
      issued.push({ token: refresh, login: user.login, scopes });
      Object.assign(out, { expires_in: opts.expiresInSeconds!, refresh_token: refresh, refresh_token_expires_in: 15_811_200 });
    }
    return out;
  };

  const server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const run =
      url.pathname === '/login/oauth/authorize' && (req.method === 'GET' || req.method === 'POST')
        ? authorize(req, res, url)
        : url.pathname === '/login/oauth/access_token' && req.method === 'POST'
          ? accessToken(req, res)
          : Promise.resolve(void res.writeHead(404, { 'content-type': 'application/json' }).end('{"message":"Not Found"}'));
    run.catch(() => {
      if (!res.headersSent) res.writeHead(500).end();
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    issued,
    authorizeRequests,
    refreshes,
    revokeRefreshToken: (t) => void refreshTokens.delete(t),
    issueTokens(login, clientId, scopes) {
      if (!opts.users.some((u) => u.login === login)) throw new Error(`unknown GitHub user ${login}`);
      if (!opts.clients.some((c) => c.clientId === clientId)) throw new Error(`unknown GitHub client ${clientId}`);
      return issue(login, scopes, clientId);
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function body(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let s = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      s += c;
      if (s.length > 64 * 1024) req.destroy();
    });
    req.on('end', () => resolve(s));
    req.on('error', reject);
  });
}
