import { AppError } from '@mcprt/errors';
import * as oidc from 'openid-client';
import { z } from 'zod';
import type { EgressFetch, KindClient, ProviderKind } from './kind.js';
import { loginFailed } from './oidc.js';

/** GitHub's public hosts: the web host serves OAuth, the API host serves `GET /user`. */
const GITHUB_WEB = 'https://github.com';
const GITHUB_API = 'https://api.github.com';

const TOKEN_PATH = '/login/oauth/access_token';

// GitHub's `GET /user` as far as sign-in reads it.
const githubUser = z.looseObject({ id: z.number().int(), login: z.string(), name: z.string().nullish(), email: z.string().nullish() });

const webBase = (issuer: string) => issuer.replace(/\/+$/, '');

/**
 * GitHub's token endpoint answers its errors (`bad_verification_code`, `bad_refresh_token`,
 * `incorrect_client_credentials`, …) with HTTP 200 and an `error` member, where OAuth says 400 (RFC
 * 6749 §5.2), and openid-client only reads an error body from an error status. This adapter turns
 * such a 200 into the 400 it means, so the library raises a `ResponseBodyError` with GitHub's code.
 */
function githubTokenErrors(fetch: oidc.CustomFetch): oidc.CustomFetch {
  return async (url, options) => {
    const res = await fetch(url, options);
    if (res.status !== 200 || !new URL(url).pathname.endsWith(TOKEN_PATH)) return res;
    const text = await res.text();
    let body: unknown;
    try {
      body = JSON.parse(text);
    } catch {
      body = undefined;
    }
    const isError = typeof body === 'object' && body !== null && typeof (body as { error?: unknown }).error === 'string';
    return new Response(text, { status: isError ? 400 : 200, headers: res.headers });
  };
}

/** Who a token belongs to: `GET {api}/user` (its numeric id is the stable subject; logins can be renamed). */
async function githubAccount(c: Pick<KindClient, 'issuer' | 'apiBase'>, accessToken: string, fetch: EgressFetch) {
  let res: Response;
  try {
    res = await fetch(`${webBase(c.apiBase ?? GITHUB_API)}/user`, {
      headers: { authorization: `Bearer ${accessToken}`, accept: 'application/vnd.github+json', 'x-github-api-version': '2022-11-28' },
    });
  } catch (cause) {
    throw new AppError('unavailable', 'idp_unavailable', 'GitHub cannot be reached; retry later', { cause, retryable: true, expose: true });
  }
  if (res.status !== 200) {
    await res.arrayBuffer().catch(() => undefined);
    throw loginFailed(`GitHub did not say who signed in (${res.status}); start again from your app`);
  }
  const user = githubUser.safeParse(await res.json().catch(() => undefined));
  if (!user.success) throw loginFailed('GitHub answered /user with an unexpected shape');
  return { issuer: webBase(c.issuer), subject: String(user.data.id), email: user.data.email ?? undefined, name: user.data.name ?? user.data.login };
}

/**
 * GitHub: OAuth 2 without OIDC at fixed endpoints under its web base (`/login/oauth/authorize`,
 * `/login/oauth/access_token`, the client secret in the form body as GitHub documents), no nonce and
 * no ID token: the account comes from `GET {api}/user` with the new token. It answers `scope`
 * comma-separated, its token errors with status 200, and calls a spent refresh token
 * `bad_refresh_token`.
 */
export const githubKind: ProviderKind = {
  kind: 'github',
  settings: {
    label: 'GitHub',
    defaultIssuer: GITHUB_WEB,
    defaultScopes: ['read:user'],
    needsOpenid: false,
    defaultApiBase: GITHUB_API,
    verifiableTokens: false,
    publicLoginClient: false,
  },
  oidc: false,
  scopeSeparator: 'space-or-comma',
  reauthErrors: ['invalid_grant', 'bad_refresh_token'],
  async configure(c, http) {
    const web = webBase(c.issuer);
    const config = new oidc.Configuration(
      { issuer: web, authorization_endpoint: `${web}/login/oauth/authorize`, token_endpoint: `${web}${TOKEN_PATH}` },
      c.clientId,
      undefined,
      githubKind.clientAuth(c.clientSecret),
    );
    if (http.allowInsecure) oidc.allowInsecureRequests(config);
    config[oidc.customFetch] = githubTokenErrors(http.fetch as oidc.CustomFetch);
    return config;
  },
  authorizeParams: () => ({}),
  identity: (c, _config, tokens, http) => githubAccount(c, tokens.access_token, http.fetch),
  refreshEndpoint: async (issuer) => ({ issuer: webBase(issuer), tokenEndpoint: `${webBase(issuer)}${TOKEN_PATH}` }),
  clientAuth: (secret) => (secret === undefined ? oidc.None() : oidc.ClientSecretPost(secret)),
  tokenFetch: githubTokenErrors,
};
