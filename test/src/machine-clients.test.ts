import { serviceClientCreate } from '@mcprt/cli';
import { loadSigningKeys, mintBuiltinAccessToken } from '@mcprt/identity';
import { oidcStoreRepository } from '@mcprt/db';
import { Client, ClientCredentialsProvider, PrivateKeyJwtProvider, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CallToolResultSchema, type CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { tokenRequest } from './harness/oauth-client.js';
import { startStack, type Stack } from './harness/stack.js';
import { waitFor } from './harness/wait-for.js';

const errorCodeOf = (r: CallToolResult) => (r._meta?.['io.mcprt/error'] as { code?: string } | undefined)?.code;
const SERVICE_ISSUER = 'urn:mcprt:service-client';

/**
 * Machine clients (OAuth client_credentials, the MCP oauth-client-credentials extension), end to end
 * with the official SDK client's own providers: the operator registers a service client with the CLI
 * command's function, the client gets a token at the tenant's authorization server, calls tools as
 * the service principal `svc:<client_id>`, and the call and audit rows name that principal.
 */
describe('machine clients (client_credentials)', () => {
  let s: Stack;
  const out: string[] = [];
  const cli = () => ({ db: s.db.db, config: s.config, out: (l: string) => out.push(l) });
  let basic: { clientId: string; clientSecret?: string };

  beforeAll(async () => {
    s = await startStack({ label: 'machine' });
    basic = await serviceClientCreate(cli(), { tenant: s.slug, name: 'nightly job', scope: 'tools:echo tools:whoami' });
  });
  afterAll(() => s?.close());

  const connect = async (
    authProvider: ConstructorParameters<typeof StreamableHTTPClientTransport>[1] extends infer O ? (O extends { authProvider?: infer P } ? P : never) : never,
  ) => {
    const client = new Client({ name: 'machine', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await client.connect(new StreamableHTTPClientTransport(new URL(s.mcpUrl), { authProvider }));
    return client;
  };
  const principalOf = async (clientId: string) => (await s.scope.users.bySubject(SERVICE_ISSUER, clientId))!;

  it('the metadata lists the grant and the auth methods; the MCP server advertises the extensions', async () => {
    const meta = (await (await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-authorization-server/t/${s.slug}`)).json()) as Record<string, string[]>;
    expect(meta.grant_types_supported).toContain('client_credentials');
    expect(meta.token_endpoint_auth_methods_supported).toEqual(expect.arrayContaining(['client_secret_basic', 'client_secret_post', 'private_key_jwt']));
    const client = await connect(new ClientCredentialsProvider({ clientId: basic.clientId, clientSecret: basic.clientSecret!, expectedIssuer: s.issuer }));
    expect(Object.keys(client.getServerCapabilities()?.extensions ?? {})).toEqual(
      expect.arrayContaining(['io.modelcontextprotocol/oauth-client-credentials', 'io.modelcontextprotocol/enterprise-managed-authorization']),
    );
    await client.close();
  });

  it('ClientCredentialsProvider (client_secret_basic): echo runs as svc:<client_id>; whoami needs a person and is refused; both audited', async () => {
    const client = await connect(new ClientCredentialsProvider({ clientId: basic.clientId, clientSecret: basic.clientSecret!, expectedIssuer: s.issuer }));
    // The list shows what the machine may call: echo, not whoami (its scope is granted, but it needs a person's account).
    const names = (await client.listTools()).tools.map((t) => t.name);
    expect(names).toContain('echo');
    expect(names).not.toContain('whoami');
    const echoed = CallToolResultSchema.parse(await client.callTool({ name: 'echo', arguments: { message: 'from a machine' } }));
    expect(echoed.isError).toBeFalsy();
    // The tool ran as the principal (its subject is the client id), not as any person.
    expect(echoed.structuredContent).toMatchObject({ message: 'from a machine', ranAs: basic.clientId });
    const who = CallToolResultSchema.parse(await client.callTool({ name: 'whoami', arguments: {} }));
    expect(who.isError).toBe(true);
    expect(errorCodeOf(who)).toBe('principal_has_no_upstream_account');
    await client.close();

    const principal = await principalOf(basic.clientId);
    expect(principal.issuer).toBe(SERVICE_ISSUER);
    const calls = await s.db.sql`select tool, status, client_id from tool_calls where tenant_id = ${s.tenant.id} and user_id = ${principal.id}`;
    expect(calls.map((c) => [c.tool, c.status, c.client_id])).toEqual([['echo', 'succeeded', basic.clientId]]);
    const audit = await s.db
      .sql`select action, tool, reason, client_id from audit_events where tenant_id = ${s.tenant.id} and user_id = ${principal.id} order by id`;
    expect(audit.map((a) => `${a.action} ${a.tool} ${a.reason ?? ''}`.trim())).toEqual(
      expect.arrayContaining(['tool_call.accepted echo', 'tool_call.refused whoami principal_has_no_upstream_account']),
    );
    expect(audit.every((a) => a.client_id === basic.clientId)).toBe(true);
    // The token's issue is audited too (before the token existed), with its scopes.
    const issued = await s.db
      .sql`select decision, reason from audit_events where tenant_id = ${s.tenant.id} and action = 'token.client_credentials' and client_id = ${basic.clientId}`;
    expect(issued[0]!.decision).toBe('allow');
    expect((issued[0]!.reason as string).split(' ').sort()).toEqual(['scope', 'tools:echo', 'tools:whoami']);
    // No upstream credential was ever looked for or made for the principal.
    expect(await s.scope.credentials.get(principal.id, 'idp')).toBeFalsy();
  });

  it('client_secret_post: the token is audience-bound, names svc:<client_id>, carries only registered scopes the tenant enables', async () => {
    const post = await serviceClientCreate(cli(), { tenant: s.slug, name: 'post job', scope: 'tools:echo', auth: 'client_secret_post' });
    const ok = await tokenRequest(s.issuer, {
      grant_type: 'client_credentials',
      client_id: post.clientId,
      client_secret: post.clientSecret!,
      resource: s.mcpUrl,
      scope: 'tools:echo tools:web_search tools:whoami',
    });
    expect(ok.status).toBe(200);
    const claims = decodeJwt(ok.body.access_token!);
    expect(claims).toMatchObject({ sub: `svc:${post.clientId}`, client_id: post.clientId, aud: s.mcpUrl, iss: s.issuer, scope: 'tools:echo' });
    expect(ok.body.refresh_token).toBeUndefined();
  });

  it('refusals: a wrong secret, a scope not registered, another resource, a user-only tool scope through the SDK step-up', async () => {
    const wrong = await tokenRequest(s.issuer, {
      grant_type: 'client_credentials',
      client_id: basic.clientId,
      client_secret: 'not-the-secret',
      resource: s.mcpUrl,
      scope: 'tools:echo',
    });
    expect(wrong.status).toBe(401);
    expect(wrong.body.error).toBe('invalid_client');
    await waitFor('the refusal audited', async () => {
      const [row] = await s.db
        .sql`select reason from audit_events where tenant_id = ${s.tenant.id} and action = 'token.client_credentials' and decision = 'deny' and client_id = ${basic.clientId}`;
      return row?.reason as string | undefined;
    });
    const basicOf = (body: Record<string, string>) =>
      fetch(`${s.issuer}/token`, {
        method: 'POST',
        headers: {
          'content-type': 'application/x-www-form-urlencoded',
          authorization: `Basic ${Buffer.from(`${basic.clientId}:${basic.clientSecret}`).toString('base64')}`,
        },
        body: new URLSearchParams({ grant_type: 'client_credentials', ...body }).toString(),
      }).then(async (r) => ({ status: r.status, body: (await r.json()) as Record<string, string> }));
    const unregistered = await basicOf({ resource: s.mcpUrl, scope: 'tools:web_search' });
    expect(unregistered).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    const none = await basicOf({ resource: s.mcpUrl });
    expect(none).toMatchObject({ status: 400, body: { error: 'invalid_scope' } });
    const elsewhere = await basicOf({ resource: 'https://other.example/mcp', scope: 'tools:echo' });
    expect(elsewhere).toMatchObject({ status: 400, body: { error: 'invalid_target' } });
    // The token has echo and whoami; web_search answers the 403 step-up, and asking again gets no more.
    const token = (await basicOf({ resource: s.mcpUrl, scope: 'tools:echo' })).body.access_token!;
    const res = await s.post(
      { jsonrpc: '2.0', id: 1, method: 'tools/call', params: { name: 'web_search', arguments: { query: 'x' } } },
      { authorization: `Bearer ${token}` },
    );
    expect(res.status).toBe(403);
    expect(res.headers.get('www-authenticate')).toContain('insufficient_scope');
  });

  it('PrivateKeyJwtProvider: private_key_jwt works; one assertion used 8 times at once gets exactly one token', async () => {
    const { publicKey, privateKey } = await generateKeyPair('ES256', { extractable: true });
    const jwk = { ...(await exportJWK(publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const pkj = await serviceClientCreate(cli(), {
      tenant: s.slug,
      name: 'signed job',
      scope: 'tools:echo',
      auth: 'private_key_jwt',
      jwks: JSON.stringify({ keys: [jwk] }),
    });
    expect(pkj.clientSecret).toBeUndefined();
    const client = await connect(
      new PrivateKeyJwtProvider({ clientId: pkj.clientId, privateKey: await exportJWK(privateKey), algorithm: 'ES256', expectedIssuer: s.issuer }),
    );
    const echoed = CallToolResultSchema.parse(await client.callTool({ name: 'echo', arguments: { message: 'signed' } }));
    expect(echoed.isError).toBeFalsy();
    await client.close();

    const assertion = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(pkj.clientId)
      .setSubject(pkj.clientId)
      .setAudience(s.issuer)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(privateKey);
    const body = {
      grant_type: 'client_credentials',
      client_id: pkj.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: assertion,
      resource: s.mcpUrl,
      scope: 'tools:echo',
    };
    const answers = await Promise.all(Array.from({ length: 8 }, () => tokenRequest(s.issuer, body)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 401, 401, 401, 401, 401, 401, 401]);
    expect((await tokenRequest(s.issuer, body)).status).toBe(401);
    // A key the client did not register.
    const other = await generateKeyPair('ES256');
    const forged = await new SignJWT({ jti: crypto.randomUUID() })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(pkj.clientId)
      .setSubject(pkj.clientId)
      .setAudience(s.issuer)
      .setIssuedAt()
      .setExpirationTime('2m')
      .sign(other.privateKey);
    expect((await tokenRequest(s.issuer, { ...body, client_assertion: forged })).status).toBe(401);
  });

  it('limits are per principal: one machine over its call rate is refused, another machine of the tenant is not', async () => {
    const t = await startBuiltinTenant(s, 'ml', ['echo']);
    await s.db.sql`update tenants set limits = limits || '{"perUserRatePerMinute": 2}'::jsonb where id = ${t.tenant.id}`;
    const make = (name: string) => serviceClientCreate(cli(), { tenant: t.slug, name, scope: 'tools:echo' });
    const [one, two] = [await make('one'), await make('two')];
    const tokenOf = async (c: { clientId: string; clientSecret?: string }) =>
      (
        await tokenRequest(t.issuer, {
          grant_type: 'client_credentials',
          client_id: c.clientId,
          client_secret: c.clientSecret!,
          resource: t.mcpUrl,
          scope: 'tools:echo',
        })
      ).body.access_token!;
    const callAs = async (token: string) =>
      CallToolResultSchema.parse(await (await s.client(token, { url: t.mcpUrl })).callTool({ name: 'echo', arguments: { message: 'm' } }));
    const oneToken = await tokenOf(one);
    const first = [await callAs(oneToken), await callAs(oneToken), await callAs(oneToken)];
    expect(first.map((r) => errorCodeOf(r) ?? 'ok')).toEqual(['ok', 'ok', 'rate_limited']);
    expect(errorCodeOf(await callAs(await tokenOf(two)))).toBeUndefined();
  });

  it('tenant isolation: A’s machine token is refused at B; A’s client is unknown at B’s token endpoint', async () => {
    const b = await startBuiltinTenant(s, 'mb', ['echo']);
    const token = (
      await tokenRequest(s.issuer, {
        grant_type: 'client_credentials',
        client_id: basic.clientId,
        client_secret: basic.clientSecret!,
        resource: s.mcpUrl,
        scope: 'tools:echo',
      })
    ).body.access_token!;
    const atB = await s.post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${token}` }, b.mcpUrl);
    expect(atB.status).toBe(401);
    const atBToken = await tokenRequest(b.issuer, {
      grant_type: 'client_credentials',
      client_id: basic.clientId,
      client_secret: basic.clientSecret!,
      resource: b.mcpUrl,
      scope: 'tools:echo',
    });
    expect(atBToken).toMatchObject({ status: 401, body: { error: 'invalid_client' } });
  });

  it('nobody else becomes a machine client: dynamic registration and forged service subjects are refused', async () => {
    const reg = await fetch(`${s.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({
        client_name: 'sneaky',
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        token_endpoint_auth_method: 'client_secret_basic',
      }),
    });
    expect(reg.status).toBe(400);
    expect(((await reg.json()) as { error: string }).error).toBe('invalid_client_metadata');
    const reg2 = await fetch(`${s.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'sneaky', redirect_uris: ['http://127.0.0.1:9/cb'], mcprt_service_scopes: 'tools:echo' }),
    });
    expect(reg2.status).toBe(400);
    // Signed with the tenant's own key (as if by its AS): `svc:` of one client but issued to another, and a principal's row id as a user sub.
    const keys = await loadSigningKeys(s.tenant.id, oidcStoreRepository(s.db.db, s.tenant.id), s.keyring);
    const mint = (subject: string, clientId: string) =>
      mintBuiltinAccessToken(keys, { issuer: s.issuer, audience: s.mcpUrl, subject, scope: 'tools:echo', clientId });
    const principal = await principalOf(basic.clientId);
    for (const token of [await mint(`svc:${basic.clientId}`, 'someone-else'), await mint(principal.id, basic.clientId)]) {
      const res = await s.post({ jsonrpc: '2.0', id: 1, method: 'tools/list' }, { authorization: `Bearer ${token}` });
      expect(res.status).toBe(401);
    }
  });
});
