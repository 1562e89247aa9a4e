import { enterpriseClientCreate, tenantTrustIdp } from '@mcprt/cli';
import { Client, CrossAppAccessProvider, discoverAndRequestJwtAuthGrant, StreamableHTTPClientTransport } from '@modelcontextprotocol/client';
import { CallToolResultSchema } from '@modelcontextprotocol/sdk/types.js';
import { decodeJwt, generateKeyPair } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEnterpriseIdp, type EnterpriseIdp, type SigningKey } from '../doubles/enterprise-idp.js';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { startStack, type Stack } from './harness/stack.js';

const JWT_BEARER = 'urn:ietf:params:oauth:grant-type:jwt-bearer';

/**
 * Enterprise-managed authorization (ID-JAG / Cross-App Access), end to end: an enterprise IdP double
 * issues ID-JAGs by RFC 8693 token exchange; the SDK client's own CrossAppAccessProvider redeems one
 * at the tenant's authorization server (RFC 7523 jwt-bearer) and calls a tool as the IdP's user.
 * Then every check of the grant, each with an ID-JAG wrong in exactly one way.
 */
describe('enterprise-managed authorization (ID-JAG)', () => {
  let s: Stack;
  let idp: EnterpriseIdp;
  let stranger: EnterpriseIdp;
  let client: { clientId: string; clientSecret: string };
  let unlisted: { clientId: string; clientSecret: string };
  let b: Awaited<ReturnType<typeof startBuiltinTenant>>;
  const cli = () => ({ db: s.db.db, config: s.config, out: () => undefined });

  beforeAll(async () => {
    s = await startStack({ label: 'idjag' });
    client = await enterpriseClientCreate(cli(), { tenant: s.slug, name: 'Corp agent' });
    unlisted = await enterpriseClientCreate(cli(), { tenant: s.slug, name: 'Not listed' });
    idp = await startEnterpriseIdp({ clients: { 'corp-host': { secret: 'host-secret', resourceClientId: client.clientId } } });
    stranger = await startEnterpriseIdp({ clients: {} });
    s.addCleanup(() => idp.close());
    s.addCleanup(() => stranger.close());
    await tenantTrustIdp(cli(), { slug: s.slug, issuer: idp.issuer, jwksUri: idp.jwksUri, clientIds: [client.clientId] });
    // Tenant B trusts another IdP (the stranger), for a client of its own.
    b = await startBuiltinTenant(s, 'idjb', ['echo']);
    const bClient = await enterpriseClientCreate(cli(), { tenant: b.slug, name: 'B agent' });
    await tenantTrustIdp(cli(), { slug: b.slug, issuer: stranger.issuer, jwksUri: stranger.jwksUri, clientIds: [bClient.clientId] });
  });
  afterAll(() => s?.close());

  /** A valid ID-JAG for tenant A's client, with `change` applied. */
  const jag = (change: Record<string, unknown> = {}, header: { typ?: string; key?: SigningKey } = {}, by: EnterpriseIdp = idp) =>
    by.mint({ sub: 'erin', email: 'erin@corp.example', aud: s.issuer, resource: s.mcpUrl, client_id: client.clientId, scope: 'tools:echo', ...change }, header);
  const redeem = async (assertion: string, as: { clientId: string; clientSecret: string } = client, extra: Record<string, string> = {}) => {
    const res = await fetch(`${s.issuer}/token`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-www-form-urlencoded',
        authorization: `Basic ${Buffer.from(`${as.clientId}:${as.clientSecret}`).toString('base64')}`,
      },
      body: new URLSearchParams({ grant_type: JWT_BEARER, assertion, ...extra }).toString(),
    });
    return { status: res.status, body: (await res.json()) as Record<string, string> };
  };

  it('the metadata lists the jwt-bearer grant', async () => {
    const meta = (await (await fetch(`${s.config.PUBLIC_URL}/.well-known/oauth-authorization-server/t/${s.slug}`)).json()) as Record<string, string[]>;
    expect(meta.grant_types_supported).toContain(JWT_BEARER);
  });

  it('CrossAppAccessProvider: token exchange at the IdP, jwt-bearer at the tenant, a tool call as the IdP user; audited', async () => {
    const provider = new CrossAppAccessProvider({
      assertion: async (ctx) =>
        (
          await discoverAndRequestJwtAuthGrant({
            idpUrl: idp.issuer,
            audience: ctx.authorizationServerUrl,
            resource: ctx.resourceUrl,
            idToken: await idp.idToken('dana', 'corp-host'),
            clientId: 'corp-host',
            clientSecret: 'host-secret',
            ...(ctx.scope ? { scope: ctx.scope } : {}),
            fetchFn: ctx.fetchFn,
          })
        ).jwtAuthGrant,
      clientId: client.clientId,
      clientSecret: client.clientSecret,
      expectedIssuer: s.issuer,
    });
    const mcp = new Client({ name: 'corp-agent', version: '1.0.0' }, { versionNegotiation: { mode: 'auto' } });
    await mcp.connect(new StreamableHTTPClientTransport(new URL(s.mcpUrl), { authProvider: provider }));
    const echoed = CallToolResultSchema.parse(await mcp.callTool({ name: 'echo', arguments: { message: 'via the enterprise' } }));
    expect(echoed.isError).toBeFalsy();
    expect(echoed.structuredContent).toMatchObject({ message: 'via the enterprise', ranAs: 'dana' });
    await mcp.close();
    expect(idp.exchanges.at(-1)).toMatchObject({ requested_token_type: 'urn:ietf:params:oauth:token-type:id-jag', audience: s.issuer, resource: s.mcpUrl });

    const user = (await s.scope.users.bySubject(idp.issuer, 'dana'))!;
    expect(user.email).toBe('dana@corp.example');
    const audit = await s.db
      .sql`select action, decision, client_id, user_id from audit_events where tenant_id = ${s.tenant.id} and action = 'token.enterprise_grant' and decision = 'allow'`;
    expect(audit).toEqual([expect.objectContaining({ client_id: client.clientId, user_id: user.id })]);
    const calls = await s.db.sql`select tool, status from tool_calls where tenant_id = ${s.tenant.id} and user_id = ${user.id}`;
    expect(calls.map((c) => [c.tool, c.status])).toEqual([['echo', 'succeeded']]);
  });

  it('a valid ID-JAG: a 10-minute token for the MCP URL, sub = the user row, scopes within the ID-JAG and the request', async () => {
    const ok = await redeem(await jag({ scope: 'tools:echo tools:whoami calls:admin' }), client, { scope: 'tools:echo tools:whoami tools:web_search' });
    expect(ok.status).toBe(200);
    const claims = decodeJwt(ok.body.access_token!);
    const erin = (await s.scope.users.bySubject(idp.issuer, 'erin'))!;
    expect(claims).toMatchObject({ sub: erin.id, aud: s.mcpUrl, iss: s.issuer, client_id: client.clientId, scope: 'tools:echo tools:whoami' });
    expect(claims.exp! - claims.iat!).toBe(600);
    expect(ok.body.refresh_token).toBeUndefined();
  });

  it('one ID-JAG redeemed 8 times at once: exactly one token', async () => {
    const assertion = await jag();
    const answers = await Promise.all(Array.from({ length: 8 }, () => redeem(assertion)));
    expect(answers.map((a) => a.status).sort()).toEqual([200, 400, 400, 400, 400, 400, 400, 400]);
    expect(answers.filter((a) => a.status === 400).every((a) => a.body.error === 'invalid_grant')).toBe(true);
    expect((await redeem(assertion)).body.error).toBe('invalid_grant');
  });

  it('each wrong ID-JAG is refused invalid_grant, and audited', async () => {
    const now = Math.floor(Date.now() / 1000);
    const otherKey = (await generateKeyPair('ES256')).privateKey;
    const cases: [string, Promise<string>, { clientId: string; clientSecret: string }?][] = [
      ['wrong aud', jag({ aud: 'https://as.elsewhere.example' })],
      ["aud = tenant B's issuer", jag({ aud: b.issuer })],
      ['wrong resource', jag({ resource: 'https://other.example/mcp' })],
      ["resource = tenant B's MCP URL", jag({ resource: b.mcpUrl })],
      ['untrusted issuer', jag({}, {}, stranger)],
      ['expired', jag({ iat: now - 400, exp: now - 60 })],
      ['issued too long ago', jag({ iat: now - 3_600, exp: now + 60 })],
      ['wrong typ', jag({}, { typ: 'JWT' })],
      ['signed with another key', jag({}, { key: otherKey })],
      ['client_id of another client', jag({ client_id: unlisted.clientId })],
      ['a client the IdP is not trusted for', jag({ client_id: unlisted.clientId }), unlisted],
      ['no jti', jag({ jti: undefined })],
    ];
    for (const [label, assertion, as] of cases) {
      const answer = await redeem(await assertion, as);
      expect({ label, status: answer.status, error: answer.body.error }).toEqual({ label, status: 400, error: 'invalid_grant' });
    }
    const denied = await s.db
      .sql`select count(*)::int as n from audit_events where tenant_id = ${s.tenant.id} and action = 'token.enterprise_grant' and decision = 'deny'`;
    expect(denied[0]!.n).toBeGreaterThanOrEqual(cases.length);
    expect(await s.scope.users.bySubject(stranger.issuer, 'erin')).toBeUndefined();
  });

  it('refusals that are not about the ID-JAG: unknown scopes, a resource parameter for elsewhere, a wrong client secret, a registered client without the grant', async () => {
    expect((await redeem(await jag({ scope: 'calls:admin' }))).body.error).toBe('invalid_scope');
    expect((await redeem(await jag(), client, { resource: 'https://other.example/mcp' })).body.error).toBe('invalid_target');
    expect((await redeem(await jag(), { clientId: client.clientId, clientSecret: 'wrong' })).status).toBe(401);
    const reg = await fetch(`${s.issuer}/reg`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ client_name: 'sneaky', grant_types: [JWT_BEARER], response_types: [], redirect_uris: [] }),
    });
    expect(reg.status).toBe(400);
  });
});
