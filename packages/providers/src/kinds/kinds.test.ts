import { randomBytes, randomUUID } from 'node:crypto';
import { parseKeyring, seal } from '@mcprt/keyring';
import { describe, expect, it } from 'vitest';
import { redeemRefreshToken, REAUTH_REQUIRED, type RefreshClient } from '../token-refresh.js';
import { UpstreamLogin } from '../upstream-login.js';
import { upstreamSecretContext, type ResolvedUpstream } from '../upstream-settings.js';
import { isUpstreamKind, providerKind } from './index.js';
import type { EgressFetch, ProviderKind, UpstreamKind } from './kind.js';

/**
 * Each kind against the shapes the test doubles document (test/doubles/github-oauth.ts: GitHub's
 * token endpoint answers errors with status 200 and `scope` comma-separated; the dev IdP stands in
 * for OIDC and Google), with a fetch that answers in-process.
 */

const keyring = parseKeyring(`k1:${randomBytes(32).toString('base64url')}`);
const tenantId = randomUUID();

type Route = (url: URL, init: { method?: string; body?: unknown }) => Response | undefined;
const fakeFetch = (route: Route) => {
  const seen: URL[] = [];
  const fetch: EgressFetch = async (url, init = {}) => {
    const u = new URL(url);
    seen.push(u);
    return route(u, init) ?? new Response('not found', { status: 404 });
  };
  return { fetch, seen };
};
const json = (body: unknown, status = 200) => new Response(JSON.stringify(body), { status, headers: { 'content-type': 'application/json' } });

const upstream = (kind: UpstreamKind, issuer: string): ResolvedUpstream => ({
  provider: kind,
  kind,
  issuer,
  apiBase: providerKind(kind).settings.defaultApiBase && 'https://api.example',
  clientId: 'client-1',
  clientSecretSealed: seal(keyring, 'secret-1', upstreamSecretContext(tenantId, kind)),
  secretContext: upstreamSecretContext(tenantId, kind),
  scopes: ['openid', 'email'],
});

const discovery =
  (issuer: string): Route =>
  (url) =>
    url.pathname === '/.well-known/openid-configuration'
      ? json({ issuer, authorization_endpoint: `${issuer}/auth`, token_endpoint: `${issuer}/token`, jwks_uri: `${issuer}/jwks` })
      : undefined;

const client = (kind: UpstreamKind, tokenEndpoint: string): RefreshClient => ({
  issuer: 'https://idp.example',
  tokenEndpoint,
  clientId: 'client-1',
  clientSecret: 'secret-1',
  kind,
});

describe('provider kinds', () => {
  it('the registry knows oidc, google and github, and nothing else', () => {
    expect(['oidc', 'google', 'github'].every(isUpstreamKind)).toBe(true);
    expect(isUpstreamKind('saml')).toBe(false);
  });

  it('oidc: authorize request by discovery, with PKCE, state and nonce, and nothing else', async () => {
    const issuer = 'https://idp.example';
    const { fetch } = fakeFetch(discovery(issuer));
    const login = new UpstreamLogin({ keyring, fetch, allowInsecure: false });
    const start = await login.start(upstream('oidc', issuer), 'https://mcp.example/cb', ['openid', 'email']);
    const p = new URL(start.url).searchParams;
    expect(start.url.startsWith(`${issuer}/auth?`)).toBe(true);
    expect(p.get('scope')).toBe('openid email');
    expect([p.get('state'), p.get('nonce'), p.get('code_challenge_method')]).toEqual([start.state, start.nonce, 'S256']);
    expect(start.nonce).not.toBe('');
    expect(p.get('access_type')).toBeNull();
  });

  it('google: OIDC plus access_type=offline, prompt=consent, include_granted_scopes=true', async () => {
    const issuer = 'https://accounts.example';
    const { fetch } = fakeFetch(discovery(issuer));
    const start = await new UpstreamLogin({ keyring, fetch, allowInsecure: false }).start(upstream('google', issuer), 'https://mcp.example/cb');
    const p = new URL(start.url).searchParams;
    expect([p.get('access_type'), p.get('prompt'), p.get('include_granted_scopes')]).toEqual(['offline', 'consent', 'true']);
    expect(p.get('nonce')).toBe(start.nonce);
  });

  it('github: fixed endpoints under the web base, no nonce, no discovery request', async () => {
    const { fetch, seen } = fakeFetch(() => undefined);
    const start = await new UpstreamLogin({ keyring, fetch, allowInsecure: false }).start(upstream('github', 'https://gh.example/'), 'https://mcp.example/cb', [
      'read:user',
      'repo',
    ]);
    const url = new URL(start.url);
    expect(`${url.origin}${url.pathname}`).toBe('https://gh.example/login/oauth/authorize');
    expect(url.searchParams.get('scope')).toBe('read:user repo');
    expect(start.nonce).toBe('');
    expect(url.searchParams.has('nonce')).toBe(false);
    expect(seen).toEqual([]);
  });

  it('github identity: GET {api}/user with the new token; the numeric id is the subject, the login the name of last resort', async () => {
    const asked: { url: string; auth: string | null }[] = [];
    const api: EgressFetch = async (url, init) => {
      asked.push({ url, auth: new Headers(init?.headers).get('authorization') });
      return json({ id: 42, login: 'alice', name: null, email: 'alice@example.com' });
    };
    const tokens = { access_token: 'gho_1', token_type: 'bearer' } as unknown as Parameters<ProviderKind['identity']>[2];
    const config = {} as Parameters<ProviderKind['identity']>[1];
    const who = await providerKind('github').identity({ issuer: 'https://gh.example/', apiBase: 'https://api.gh.example' }, config, tokens, {
      fetch: api,
      allowInsecure: false,
    });
    expect(who).toEqual({ issuer: 'https://gh.example', subject: '42', email: 'alice@example.com', name: 'alice' });
    expect(asked).toEqual([{ url: 'https://api.gh.example/user', auth: 'Bearer gho_1' }]);
    const refused: EgressFetch = async () => json({ message: 'Bad credentials' }, 401);
    await expect(
      providerKind('github').identity({ issuer: 'https://gh.example', apiBase: undefined }, config, tokens, { fetch: refused, allowInsecure: false }),
    ).rejects.toMatchObject({ code: 'upstream_login_failed' });
  });

  it('github refresh: the secret in the body, comma-separated scopes read, a 200 bad_refresh_token means sign in again', async () => {
    const bodies: string[] = [];
    const ok = fakeFetch((_u, init) => {
      bodies.push(String(init.body));
      return json({ access_token: 'gho_new', refresh_token: 'ghr_new', expires_in: 28800, scope: 'read:user,repo', token_type: 'bearer' });
    });
    const t = await redeemRefreshToken(client('github', 'https://gh.example/login/oauth/access_token'), 'ghr_old', { allowInsecure: false, fetch: ok.fetch });
    expect(t).toMatchObject({ accessToken: 'gho_new', refreshToken: 'ghr_new', scopes: ['read:user', 'repo'] });
    expect(bodies[0]).toContain('client_secret=secret-1');
    const spent = fakeFetch(() => json({ error: 'bad_refresh_token', error_description: 'The refresh token passed is incorrect or expired.' }));
    await expect(
      redeemRefreshToken(client('github', 'https://gh.example/login/oauth/access_token'), 'ghr_old', { allowInsecure: false, fetch: spent.fetch }),
    ).rejects.toMatchObject({ code: REAUTH_REQUIRED });
  });

  it('oidc refresh: HTTP Basic client authentication, space-separated scopes, invalid_grant means sign in again', async () => {
    const auth: (string | null)[] = [];
    const ok = fakeFetch(() => json({ access_token: 'at', expires_in: 3600, scope: 'openid email', token_type: 'Bearer' }));
    const wrapped: EgressFetch = async (url, init) => {
      auth.push(new Headers(init?.headers).get('authorization'));
      return ok.fetch(url, init);
    };
    const t = await redeemRefreshToken(client('oidc', 'https://idp.example/token'), 'rt', { allowInsecure: false, fetch: wrapped });
    expect(t).toMatchObject({ accessToken: 'at', refreshToken: undefined, scopes: ['openid', 'email'] });
    expect(auth[0]).toMatch(/^Basic /);
    const revoked = fakeFetch(() => json({ error: 'invalid_grant' }, 400));
    await expect(redeemRefreshToken(client('oidc', 'https://idp.example/token'), 'rt', { allowInsecure: false, fetch: revoked.fetch })).rejects.toMatchObject({
      code: REAUTH_REQUIRED,
    });
    // GitHub's name for it means nothing at an OIDC provider: a permanent failure, not a re-consent.
    const other = fakeFetch(() => json({ error: 'bad_refresh_token' }, 400));
    await expect(redeemRefreshToken(client('oidc', 'https://idp.example/token'), 'rt', { allowInsecure: false, fetch: other.fetch })).rejects.toMatchObject({
      code: 'credential_refresh_failed',
      retryable: false,
    });
  });

  it('refresh endpoints: discovered for OIDC kinds (with a non-RS256 ID token alg), fixed for GitHub', async () => {
    const metadata = async (issuer: string) => ({ issuer, tokenEndpoint: `${issuer}/token`, idTokenSigningAlgs: ['ES256'] });
    await expect(providerKind('oidc').refreshEndpoint('https://idp.example', metadata)).resolves.toEqual({
      issuer: 'https://idp.example',
      tokenEndpoint: 'https://idp.example/token',
      idTokenAlg: 'ES256',
    });
    await expect(providerKind('github').refreshEndpoint('https://gh.example/', metadata)).resolves.toEqual({
      issuer: 'https://gh.example',
      tokenEndpoint: 'https://gh.example/login/oauth/access_token',
    });
  });
});
