import { createHash, randomBytes } from 'node:crypto';
import { browse, type CookieJar } from './browser.js';
import { CLIENT_REDIRECT } from './oauth-provider.js';

/**
 * Real user tokens from a built-in tenant's authorization server, the way an app gets them: dynamic
 * client registration (a public client), then the authorization code flow with PKCE through the
 * tenant's login (the dev IdP) and consent pages, then the token endpoint.
 */
export async function registerClient(issuer: string, clientName: string): Promise<string> {
  const res = await fetch(`${issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: clientName,
      redirect_uris: [CLIENT_REDIRECT],
      grant_types: ['authorization_code', 'refresh_token'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  if (res.status !== 201) throw new Error(`registration → ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { client_id: string }).client_id;
}

export interface UserToken {
  accessToken: string;
  /** The scope the token endpoint says the token has. */
  scope: string;
  /** The HTML pages the user saw on the way (login, consent). */
  pages: string[];
}

/** `account` signs in and allows `scope` for `clientId`; the access token for the tenant's MCP resource. */
export async function userToken(
  as: { issuer: string; mcpUrl: string },
  o: { clientId: string; account: string; scope: string | undefined; jar?: CookieJar },
): Promise<UserToken> {
  const verifier = randomBytes(32).toString('base64url');
  const url = new URL(`${as.issuer}/auth`);
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: o.clientId,
    redirect_uri: CLIENT_REDIRECT,
    resource: as.mcpUrl,
    ...(o.scope === undefined ? {} : { scope: o.scope }),
    state: randomBytes(8).toString('hex'),
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }))
    url.searchParams.set(k, v);
  const pages: string[] = [];
  const { callback } = await browse(url, { account: o.account, stopAt: CLIENT_REDIRECT, pages, ...(o.jar ? { jar: o.jar } : {}) });
  const code = callback.searchParams.get('code');
  if (!code) throw new Error(`no code at the redirect: ${callback.href}`);
  const res = await fetch(`${as.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({
      grant_type: 'authorization_code',
      code,
      client_id: o.clientId,
      redirect_uri: CLIENT_REDIRECT,
      code_verifier: verifier,
      resource: as.mcpUrl,
    }).toString(),
  });
  const body = (await res.json()) as Record<string, string>;
  if (res.status !== 200 || !body.access_token) throw new Error(`token → ${res.status}: ${JSON.stringify(body)}`);
  return { accessToken: body.access_token, scope: body.scope ?? '', pages };
}
