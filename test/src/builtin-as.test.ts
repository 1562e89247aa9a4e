import { idpSecretContext } from '@mcprt/api';
import { parseKeyring, seal } from '@mcprt/crypto';
import { tenantsRepository, type Tenant } from '@mcprt/db';
import { startDevIdp, type DevIdp } from '@mcprt/dev-idp';
import { Client, StreamableHTTPClientTransport, UnauthorizedError, type OAuthClientProvider } from '@modelcontextprotocol/client';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { browse } from './harness/browser.js';
import { startStack } from './harness/stack.js';

/**
 * Issue 8's vertical slice: a tenant in `builtin` mode is its own OAuth authorization server
 * (oidc-provider under /t/{slug}), federating login to its IdP. The official MCP SDK client with its
 * OAuth support runs discovery → dynamic registration → authorize (login at the IdP, consent) →
 * token → tools/call, against the real API, worker, Postgres, Redis and two development IdPs.
 */

type Stack = Awaited<ReturnType<typeof startStack>>;
let s: Stack;
const idps: DevIdp[] = [];
const builtin: { tenant: Tenant; idp: DevIdp; mcpUrl: string; issuer: string }[] = [];
const REDIRECT = 'http://127.0.0.1:9/oauth/callback';

async function builtinTenant(label: string) {
  const slug = `${s.ns.slug}-${label}`.slice(0, 63);
  const secret = `dev-secret-${label}-${Math.random().toString(36).slice(2)}`;
  const idp = await startDevIdp({
    port: 0,
    loginClients: [{ clientId: 'mcprt-as', clientSecret: secret, redirectUris: [`${s.config.PUBLIC_URL}/t/${slug}/login/callback`] }],
  });
  idps.push(idp);
  const repo = tenantsRepository(s.db.db);
  const tenant = await repo.create({ slug, displayName: `Builtin ${label}`, idpIssuer: idp.issuer, enabledTools: ['whoami', 'echo'], authMode: 'builtin' });
  const keyring = parseKeyring(s.config.SEAL_KEYS);
  await repo.setIdpClient(tenant.id, {
    clientId: 'mcprt-as',
    clientSecretSealed: seal(keyring, secret, idpSecretContext(tenant.id)),
    scopes: ['openid', 'email', 'profile', 'offline_access'],
  });
  const entry = { tenant: (await repo.byId(tenant.id))!, idp, mcpUrl: `${s.config.PUBLIC_URL}/t/${slug}/mcp`, issuer: `${s.config.PUBLIC_URL}/t/${slug}` };
  builtin.push(entry);
  return entry;
}

/** The MCP client side of OAuth, as an app would implement it (in memory). */
class MemoryOAuthProvider implements OAuthClientProvider {
  client: Awaited<ReturnType<NonNullable<OAuthClientProvider['clientInformation']>>>;
  stored: Awaited<ReturnType<OAuthClientProvider['tokens']>>;
  verifier = '';
  authorizationUrl: URL | undefined;
  readonly redirectUrl = REDIRECT;
  readonly clientMetadata = {
    client_name: 'SDK Test Client',
    redirect_uris: [REDIRECT],
    grant_types: ['authorization_code', 'refresh_token'],
    response_types: ['code'],
    token_endpoint_auth_method: 'none',
  };
  clientInformation() {
    return this.client;
  }
  saveClientInformation(info: NonNullable<typeof this.client>) {
    this.client = info;
  }
  tokens() {
    return this.stored;
  }
  saveTokens(t: NonNullable<typeof this.stored>) {
    this.stored = t;
  }
  redirectToAuthorization(url: URL) {
    this.authorizationUrl = url;
  }
  saveCodeVerifier(v: string) {
    this.verifier = v;
  }
  codeVerifier() {
    return this.verifier;
  }
  discovery: unknown;
  saveDiscoveryState(state: unknown) {
    this.discovery = state;
  }
  discoveryState() {
    return this.discovery as never;
  }
}

/** The SDK client signs `account` in at a built-in tenant and returns a connected client and its provider. */
async function signIn(mcpUrl: string, account: string) {
  const auth = new MemoryOAuthProvider();
  const first = new Client({ name: 'mcprt-oauth-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: auth });
  await expect(first.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  expect(auth.authorizationUrl, 'the SDK asked the user agent to open the authorization URL').toBeDefined();
  const { callback } = await browse(auth.authorizationUrl!, { account, stopAt: REDIRECT });
  await transport.finishAuth(callback.searchParams);
  const client = new Client({ name: 'mcprt-oauth-test', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
  await client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: auth }));
  return { client, auth, callback };
}

beforeAll(async () => {
  s = await startStack({ label: 'builtin-as' });
  await builtinTenant('a');
  await builtinTenant('b');
});

afterAll(async () => {
  await Promise.allSettled(idps.map((i) => i.close()));
  await s?.close();
});

describe('built-in authorization server: discovery', () => {
  it('RFC 9728 names the tenant AS; RFC 8414 (path-inserted) and OIDC discovery advertise S256, CIMD and iss', async () => {
    const a = builtin[0]!;
    const prm = (await (await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${a.tenant.slug}/mcp`)).json()) as Record<string, unknown>;
    expect(prm.authorization_servers).toEqual([a.issuer]);
    expect(prm.resource).toBe(a.mcpUrl);
    for (const path of [
      `/.well-known/oauth-authorization-server/t/${a.tenant.slug}`,
      `/.well-known/openid-configuration/t/${a.tenant.slug}`,
      `/t/${a.tenant.slug}/.well-known/openid-configuration`,
    ]) {
      const res = await fetch(`${s.config.PUBLIC_URL}${path}`);
      expect(res.status, path).toBe(200);
      const m = (await res.json()) as Record<string, unknown>;
      expect(m.issuer).toBe(a.issuer);
      expect(m.authorization_endpoint).toBe(`${a.issuer}/auth`);
      expect(m.token_endpoint).toBe(`${a.issuer}/token`);
      expect(m.registration_endpoint).toBe(`${a.issuer}/reg`);
      expect(m.code_challenge_methods_supported).toEqual(['S256']);
      expect(m.client_id_metadata_document_supported).toBe(true);
      expect(m.authorization_response_iss_parameter_supported).toBe(true);
      expect(m.scopes_supported).toEqual(expect.arrayContaining(['tools:whoami', 'tools:echo']));
    }
    // An external tenant publishes its IdP, and has no AS of its own.
    const ext = (await (await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-protected-resource/t/${s.tenant.slug}/mcp`)).json()) as Record<string, unknown>;
    expect(ext.authorization_servers).toEqual([s.idp.issuer]);
    expect((await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-authorization-server/t/${s.tenant.slug}`)).status).toBe(404);
    expect((await fetch(`${s.config.PUBLIC_URL}/t/${s.tenant.slug}/.well-known/openid-configuration`)).status).toBe(404);
  });
});

describe('built-in authorization server: the SDK client signs users in', () => {
  it('discovery → DCR → login at the IdP → consent → token → whoami answers alice; bob in parallel gets bob', async () => {
    const a = builtin[0]!;
    const [alice, bob] = await Promise.all([signIn(a.mcpUrl, 'alice'), signIn(a.mcpUrl, 'bob')]);
    expect(alice.callback.searchParams.get('iss')).toBe(a.issuer);
    const [ra, rb] = await Promise.all([alice.client.callTool({ name: 'whoami', arguments: {} }), bob.client.callTool({ name: 'whoami', arguments: {} })]);
    expect(ra.structuredContent).toMatchObject({ subject: 'alice', email: 'alice@example.test', issuer: a.idp.issuer, tenant: a.tenant.slug });
    expect(rb.structuredContent).toMatchObject({ subject: 'bob', email: 'bob@example.test', issuer: a.idp.issuer });
    // The access token: a short-lived JWT from the tenant's issuer, audience exactly the MCP URL.
    const payload = JSON.parse(Buffer.from(alice.auth.stored!.access_token.split('.')[1]!, 'base64url').toString()) as Record<string, unknown>;
    expect(payload.iss).toBe(a.issuer);
    expect(payload.aud).toBe(a.mcpUrl);
    expect((payload.exp as number) - (payload.iat as number)).toBeLessThanOrEqual(600);
    expect(String(payload.scope).split(' ')).toEqual(expect.arrayContaining(['tools:whoami']));
    expect(alice.auth.stored!.refresh_token).toBeTruthy();
    await Promise.all([alice.client.close(), bob.client.close()]);
  });

  it('upstream tokens are stored sealed; the AS store holds no code, token id or upstream token in clear', async () => {
    const a = builtin[0]!;
    const { client, auth, callback } = await signIn(a.mcpUrl, 'alice');
    await client.close();
    const code = callback.searchParams.get('code')!;
    const creds = await s.db.sql<{ access_token_sealed: string }[]>`
      select c.access_token_sealed from credentials c join users u on u.id = c.user_id
      where c.tenant_id = ${a.tenant.id} and u.subject = 'alice' and c.provider = 'idp'`;
    expect(creds).toHaveLength(1);
    const rows = await s.db.sql<
      { blob: string }[]
    >`select concat_ws(' ', model, id, grant_id, uid, payload) as blob from oidc_store where tenant_id = ${a.tenant.id}`;
    expect(rows.length).toBeGreaterThan(0);
    const all = rows.map((r) => r.blob).join('\n');
    expect(all).not.toContain(code);
    expect(all).not.toContain(auth.stored!.refresh_token!);
    expect(all).not.toContain(auth.client!.client_id);
    expect(all).not.toContain('alice');
    const keys = await s.db.sql<{ private_jwk_sealed: string }[]>`select private_jwk_sealed from tenant_signing_keys where tenant_id = ${a.tenant.id}`;
    expect(keys).toHaveLength(1);
    expect(keys[0]!.private_jwk_sealed).not.toContain('"d"');
  });

  it("a token of tenant A is refused at tenant B (and at the external tenant); B's own sign-in works side by side", async () => {
    const [a, b] = builtin as [(typeof builtin)[0], (typeof builtin)[0]];
    const alice = await signIn(a.mcpUrl, 'alice');
    const token = alice.auth.stored!.access_token;
    await alice.client.close();
    for (const url of [b.mcpUrl, s.mcpUrl]) {
      const res = await s.post(
        { jsonrpc: '2.0', id: 1, method: 'tools/list', params: {} },
        { authorization: `Bearer ${token}`, 'mcp-protocol-version': '2025-11-25' },
        url,
      );
      expect(res.status, url).toBe(401);
      expect(res.headers.get('www-authenticate')).toContain('error="invalid_token"');
    }
    const bobAtB = await signIn(b.mcpUrl, 'bob');
    const r = await bobAtB.client.callTool({ name: 'whoami', arguments: {} });
    expect(r.structuredContent).toMatchObject({ subject: 'bob', issuer: b.idp.issuer, tenant: b.tenant.slug });
    await bobAtB.client.close();
  });
});
