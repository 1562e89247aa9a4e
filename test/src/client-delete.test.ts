import { CliError, clientDelete, clientList, enterpriseClientCreate, serviceClientCreate, tenantTrustIdp } from '@mcprt/cli';
import { oidcStoreRepository, tenantsRepository } from '@mcprt/db';
import { listAsClients, storeKey } from '@mcprt/identity';
import { parseKeyring } from '@mcprt/keyring';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CookieJar } from './harness/browser.js';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { runCli } from './harness/cli-process.js';
import { freePort } from './harness/free-port.js';
import { authorize, signIn, tokenRequest } from './harness/oauth-client.js';
import { createKey, Operator } from './harness/operator.js';
import { initializeRequest, startStack, type Stack } from './harness/stack.js';

/**
 * Deleting a built-in tenant's OAuth client (`client delete`, the console's Delete client button:
 * one `deleteAsClient`): afterwards its refresh token, its authorization requests and its
 * client_credentials requests are refused, its grants are gone from the account page and the
 * console; another tenant's client id changes nothing by either path; concurrent deletes act once.
 * Real API, Postgres, Redis and oidc-provider.
 */

type B = Awaited<ReturnType<typeof startBuiltinTenant>>;
let s: Stack;
let b: B;
let keyA: { id: string; key: string };
const out: string[] = [];
const notes: string[] = [];
const cli = () => ({ db: s.db.db, config: s.config, out: (l: string) => out.push(l), err: (l: string) => notes.push(l) });
const keyring = () => parseKeyring(s.config.SEAL_KEYS, s.config.SEAL_ACTIVE_KID);
const clientIdsOf = async (tenantId: string) => (await listAsClients(s.db.db, keyring(), tenantId)).map((c) => c.clientId);
const deletions = async (tenantId: string, clientId: string) =>
  s.db
    .sql`select client_id, reason from audit_events where tenant_id = ${tenantId} and action = 'oauth_client.deleted' and reason like ${`client=${clientId} %`}`;

async function operator(slug: string, key: string): Promise<Operator> {
  const op = new Operator(s.config.PUBLIC_URL, slug);
  expect((await op.signIn(key)).status).toBe(303);
  await op.page('/clients');
  return op;
}

const accountPage = async (issuer: string, jar: CookieJar) => {
  const url = new URL(`${issuer}/account`);
  const res = await fetch(url, { headers: { cookie: jar.header(url) } });
  return res.text();
};

beforeAll(async () => {
  s = await startStack({ label: 'client-delete', worker: 'none' });
  b = await startBuiltinTenant(s, 'b', ['echo']);
  keyA = await createKey(s.db.db, s.tenant.id, ['admin']);
}, 120_000);
afterAll(() => s?.close());

describe('client delete', () => {
  it('CLI: list shows kind and grants; delete refuses the refresh token and the authorization request, the grant leaves the account page and the console', async () => {
    const alice = await signIn(s.mcpUrl, 'alice', { connected: true });
    await alice.client.close();
    const clientId = alice.auth.client!.client_id;
    const refreshToken = alice.auth.stored!.refresh_token!;
    expect(await accountPage(s.issuer, alice.jar)).toContain(clientId);
    const op = await operator(s.slug, keyA.key);
    expect(await op.page('/clients')).toContain(clientId);

    out.length = 0;
    const listed = (await clientList(cli(), { tenant: s.slug })).find((c) => c.clientId === clientId)!;
    expect(listed).toMatchObject({ kind: 'public', grants: 1 });
    expect(listed.expiresAt).toBeInstanceOf(Date); // a dynamic registration lapses when unused
    expect(out.find((l) => l.startsWith(`${clientId} `))).toMatch(/ {2}public {2}created=\S+ {2}expires=\S+ {2}grants=1 {2}/);
    // The authorization request is accepted while the client exists (to the login, not back with an error).
    expect((await authorize(s.issuer, clientId, s.mcpUrl)).status).toBe(303);

    // The grant, its refresh token and the registration access token carry the client column.
    const [tagged] = await s.db.sql`select count(*)::int as n from oidc_store where tenant_id = ${s.tenant.id} and client_id = ${storeKey(clientId)}`;
    expect(tagged!.n).toBeGreaterThanOrEqual(3);
    out.length = 0;
    const deleted = await clientDelete(cli(), { tenant: s.slug, clientId });
    expect(deleted).toMatchObject({ clientId, kind: 'public', grants: 1, idps: [] });
    expect(out[0]).toContain(`deleted client ${clientId} (public)`);

    const refresh = await tokenRequest(s.issuer, { grant_type: 'refresh_token', refresh_token: refreshToken, client_id: clientId });
    expect(refresh.status).toBe(401);
    expect(refresh.body.error).toBe('invalid_client');
    const auth = await authorize(s.issuer, clientId, s.mcpUrl);
    expect(auth.status).toBe(400); // an error page: an unknown client is never redirected to
    expect(auth.headers.get('location')).toBeNull();
    expect(await accountPage(s.issuer, alice.jar)).not.toContain(clientId);
    expect(await op.page('/clients')).not.toContain(clientId);
    expect(await clientIdsOf(s.tenant.id)).not.toContain(clientId);
    // Nothing of its grant is left: no grant, code or refresh token row.
    const [rows] = await s.db
      .sql`select count(*)::int as n from oidc_store where tenant_id = ${s.tenant.id} and model in ('Grant', 'RefreshToken', 'AuthorizationCode')
      and account_id = ${storeKey((await s.scope.users.bySubject(s.idp.issuer, 'alice'))!.id)}`;
    expect(rows!.n).toBe(0);
    const [byClient] = await s.db.sql`select count(*)::int as n from oidc_store where tenant_id = ${s.tenant.id} and client_id = ${storeKey(clientId)}`;
    expect(byClient!.n).toBe(0);
    const audit = await deletions(s.tenant.id, clientId);
    expect(audit).toHaveLength(1);
    expect(audit[0]!.client_id).toMatch(/^cli(:|$)/);
    expect(audit[0]!.reason).toContain('grants=1');
    // Again: not found, nothing more audited.
    await expect(clientDelete(cli(), { tenant: s.slug, clientId })).rejects.toBeInstanceOf(CliError);
    expect(await deletions(s.tenant.id, clientId)).toHaveLength(1);
  });

  it('rows written before the client column (migration 0018) are found by opening them: counted, and deleted with the client', async () => {
    const carol = await signIn(s.mcpUrl, 'carol', { connected: true });
    await carol.client.close();
    const clientId = carol.auth.client!.client_id;
    const grants = await s.db.sql`select id from oidc_store where tenant_id = ${s.tenant.id} and model = 'Grant' and client_id = ${storeKey(clientId)}`;
    expect(grants).toHaveLength(1);
    const grantKey = grants[0]!.id as string;
    // As such rows were written: no client column on the grant, its refresh token and its registration access token.
    await s.db.sql`update oidc_store set client_id = null where tenant_id = ${s.tenant.id} and (client_id = ${storeKey(clientId)} or grant_id = ${grantKey})`;
    expect((await listAsClients(s.db.db, keyring(), s.tenant.id)).find((c) => c.clientId === clientId)?.grants).toBe(1);
    const op = await operator(s.slug, keyA.key);
    expect((await op.post('/clients/delete', { client: clientId })).status).toBe(303);
    const [left] = await s.db
      .sql`select count(*)::int as n from oidc_store where tenant_id = ${s.tenant.id} and (grant_id = ${grantKey} or (model = 'Grant' and id = ${grantKey}))`;
    expect(left!.n).toBe(0);
    expect((await deletions(s.tenant.id, clientId))[0]!.reason).toContain('grants=1');
    const refresh = await tokenRequest(s.issuer, { grant_type: 'refresh_token', refresh_token: carol.auth.stored!.refresh_token!, client_id: clientId });
    expect(refresh.body.error).toBe('invalid_client');
  });

  it('console: a service client deleted by form (CSRF, audited with the key id); client_credentials refused; a token already issued lapses on its own', async () => {
    const svc = await serviceClientCreate(cli(), { tenant: s.slug, name: 'leaky job', scope: 'tools:echo' });
    const request = { grant_type: 'client_credentials', client_id: svc.clientId, client_secret: svc.clientSecret!, resource: s.mcpUrl, scope: 'tools:echo' };
    const before = await tokenRequest(s.issuer, request);
    expect(before.status).toBe(200);

    const op = await operator(s.slug, keyA.key);
    const page = await op.page('/clients');
    expect(page).toContain(`name="client" value="${svc.clientId}"`);
    expect(page).not.toContain(svc.clientSecret!);
    expect((await op.post('/clients/delete', { client: svc.clientId }, { csrf: null })).status).toBe(403);
    expect(await clientIdsOf(s.tenant.id)).toContain(svc.clientId);
    const res = await op.post('/clients/delete', { client: svc.clientId });
    expect(res.status).toBe(303);
    expect(await clientIdsOf(s.tenant.id)).not.toContain(svc.clientId);

    const after = await tokenRequest(s.issuer, request);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('invalid_client');
    const audit = await deletions(s.tenant.id, svc.clientId);
    expect(audit.map((a) => a.client_id)).toEqual([`api_key:${keyA.id}`]);
    expect(audit[0]!.reason).toContain('kind=service');
    // Access tokens are JWTs checked in-process: one issued before the delete is accepted until it expires (docs/auth.md).
    expect((await s.post(initializeRequest, { authorization: `Bearer ${before.body.access_token}` })).status).toBe(200);
    expect((await op.post('/clients/delete', { client: svc.clientId })).status).toBe(404);
  });

  it('an enterprise client: jwt-bearer refused after the delete; it leaves the trusted IdPs (an entry naming only it is dropped, another keeps its other clients)', async () => {
    const ent = await enterpriseClientCreate(cli(), { tenant: s.slug, name: 'enterprise app' });
    const other = await enterpriseClientCreate(cli(), { tenant: s.slug, name: 'other enterprise app' });
    await tenantTrustIdp(cli(), { slug: s.slug, issuer: 'https://only.example.com', jwksUri: 'https://only.example.com/jwks', clientIds: [ent.clientId] });
    await tenantTrustIdp(cli(), {
      slug: s.slug,
      issuer: 'https://shared.example.com',
      jwksUri: 'https://shared.example.com/jwks',
      clientIds: [ent.clientId, other.clientId],
    });
    const jwtBearer = {
      grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
      assertion: 'not.an.id-jag',
      client_id: ent.clientId,
      client_secret: ent.clientSecret,
      resource: s.mcpUrl,
    };
    // Before: the client authenticates and only the assertion is refused.
    expect((await tokenRequest(s.issuer, jwtBearer)).body.error).toBe('invalid_grant');
    out.length = 0;
    const deleted = await clientDelete(cli(), { tenant: s.slug, clientId: ent.clientId });
    expect(deleted.kind).toBe('enterprise');
    const after = await tokenRequest(s.issuer, jwtBearer);
    expect(after.status).toBe(401);
    expect(after.body.error).toBe('invalid_client');
    expect(deleted.idps).toEqual([
      { issuer: 'https://only.example.com', dropped: true },
      { issuer: 'https://shared.example.com', dropped: false },
    ]);
    const idps = (await tenantsRepository(s.db.db).byId(s.tenant.id))!.enterpriseIdps;
    expect(idps).toEqual([{ issuer: 'https://shared.example.com', jwksUri: 'https://shared.example.com/jwks', clientIds: [other.clientId] }]);
    // The CLI printed ids and outcomes, never a secret.
    expect(out.join('\n')).not.toContain(ent.clientSecret);
  });

  it("another tenant's client id, by CLI and by console form, is not found and changes nothing", async () => {
    const bob = await signIn(b.mcpUrl, 'bob', { connected: true });
    await bob.client.close();
    const clientB = bob.auth.client!.client_id;
    await expect(clientDelete(cli(), { tenant: s.slug, clientId: clientB })).rejects.toThrow(/has no client/);
    const op = await operator(s.slug, keyA.key);
    expect((await op.post('/clients/delete', { client: clientB })).status).toBe(404);
    expect(await clientIdsOf(b.tenant.id)).toContain(clientB);
    const refresh = await tokenRequest(b.issuer, { grant_type: 'refresh_token', refresh_token: bob.auth.stored!.refresh_token!, client_id: clientB });
    expect(refresh.status).toBe(200);
    expect(await deletions(s.tenant.id, clientB)).toHaveLength(0);
    expect(await deletions(b.tenant.id, clientB)).toHaveLength(0);
  });

  it('a tenant whose IdP issues the tokens has no clients here: the CLI says so, the console form is not found', async () => {
    const ext = await tenantsRepository(s.db.db).create({
      slug: `${s.slug}-ext`.slice(0, 63),
      displayName: 'External',
      idpIssuer: s.idp.issuer,
      enabledTools: ['echo'],
      authMode: 'external',
    });
    await expect(clientList(cli(), { tenant: ext.slug })).rejects.toThrow(/not in builtin mode/);
    await expect(clientDelete(cli(), { tenant: ext.slug, clientId: 'mcprt_anything' })).rejects.toThrow(/not in builtin mode/);
    const key = await createKey(s.db.db, ext.id, ['admin']);
    const op = new Operator(s.config.PUBLIC_URL, ext.slug);
    expect((await op.signIn(key.key)).status).toBe(303);
    await op.page('/clients');
    expect((await op.post('/clients/delete', { client: 'mcprt_anything' })).status).toBe(404);
    await expect(clientDelete(cli(), { tenant: s.slug, clientId: '' })).rejects.toThrow(/--client-id is required/);
  });

  it('8 concurrent deletes of one client (CLI and console) act once: one success, one audit row', async () => {
    const svc = await serviceClientCreate(cli(), { tenant: s.slug, name: 'raced', scope: 'tools:echo' });
    const op = await operator(s.slug, keyA.key);
    const results = await Promise.all([
      ...Array.from({ length: 4 }, () =>
        clientDelete(cli(), { tenant: s.slug, clientId: svc.clientId }).then(
          () => 'deleted',
          (e: unknown) => (e instanceof CliError ? 'not found' : String(e)),
        ),
      ),
      ...Array.from({ length: 4 }, () => op.post('/clients/delete', { client: svc.clientId }).then((r) => (r.status === 303 ? 'deleted' : String(r.status)))),
    ]);
    expect(results.filter((r) => r === 'deleted')).toHaveLength(1);
    expect(results.filter((r) => r !== 'deleted').every((r) => r === 'not found' || r === '404')).toBe(true);
    expect(await deletions(s.tenant.id, svc.clientId)).toHaveLength(1);
    expect(await oidcStoreRepository(s.db.db, s.tenant.id).find('Client', storeKey(svc.clientId))).toBeUndefined();
  });

  it('a second API process that just served the client refuses it at once after the delete at the first (no cached copy on any replica)', async () => {
    const port = await freePort();
    // Same PUBLIC_URL (the issuer and audience), another port and process: a second replica.
    const other: AppProcess = spawnApp('api', { ...s.env, PORT: String(port) });
    try {
      await other.ready;
      const svc = await serviceClientCreate(cli(), { tenant: s.slug, name: 'two replicas', scope: 'tools:echo' });
      const request = { grant_type: 'client_credentials', client_id: svc.clientId, client_secret: svc.clientSecret!, resource: s.mcpUrl, scope: 'tools:echo' };
      const otherIssuer = `http://127.0.0.1:${port}/t/${s.slug}`;
      expect((await tokenRequest(otherIssuer, request)).status).toBe(200);
      expect((await tokenRequest(s.issuer, request)).status).toBe(200);
      const op = await operator(s.slug, keyA.key);
      expect((await op.post('/clients/delete', { client: svc.clientId })).status).toBe(303);
      for (const issuer of [otherIssuer, s.issuer]) {
        const refused = await tokenRequest(issuer, request);
        expect(refused.status).toBe(401);
        expect(refused.body.error).toBe('invalid_client');
      }
    } finally {
      other.child.kill('SIGTERM');
      await other.exited;
    }
  });

  it('the real CLI: client list and client delete print ids, kinds and counts, never a secret', async () => {
    const conf = await serviceClientCreate(cli(), { tenant: s.slug, name: 'cli listed', scope: 'tools:echo' });
    const list = await runCli(['client', 'list', '--tenant', s.slug], s.env);
    expect(list.code).toBe(0);
    expect(list.stdout).toMatch(new RegExp(`^${conf.clientId} {2}service {2}created=\\S+ {2}expires=never {2}grants=0 {2}cli listed$`, 'm'));
    const del = await runCli(['client', 'delete', '--tenant', s.slug, '--client-id', conf.clientId], s.env);
    expect(del.code).toBe(0);
    expect(del.stdout).toContain(`deleted client ${conf.clientId} (service)`);
    for (const text of [list.stdout, list.stderr, del.stdout, del.stderr]) expect(text).not.toContain(conf.clientSecret!);
    const again = await runCli(['client', 'delete', '--tenant', s.slug, '--client-id', conf.clientId], s.env);
    expect(again.code).toBe(1);
    expect((await runCli(['client', 'delete', '--tenant', s.slug], s.env)).code).toBe(2);
  });
});
