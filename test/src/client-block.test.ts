import { clientBlock, clientDelete, clientUnblock, CliError, serviceClientCreate, UsageError } from '@mcprt/cli';
import { storeKey } from '@mcprt/identity';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { localhostCertificate, startCimdOrigin } from './harness/cimd-server.js';
import { runCli } from './harness/cli-process.js';
import { authorize, signIn, tokenRequest } from './harness/oauth-client.js';
import { createKey, Operator } from './harness/operator.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * A client a tenant knows only by its Client ID Metadata Document URL is not stored, so there is
 * nothing to delete: the operator blocks it (`client block`, one `blockAsClient`). Afterwards its
 * refresh tokens and authorization requests are refused, a cached document is not honoured, a
 * document never seen is not even fetched; another tenant that uses the same document is not
 * affected; a registered client or an id that is not a document URL is refused; `client unblock`
 * lifts it. Real API, Postgres, oidc-provider and an https origin serving the documents.
 */
let s: Stack;
let cimd: Awaited<ReturnType<typeof startCimdOrigin>>;
const out: string[] = [];
const cli = () => ({ db: s.db.db, config: s.config, out: (l: string) => out.push(l), err: () => undefined });
const audit = async (action: string, url: string) =>
  s.db.sql`select client_id, reason from audit_events where tenant_id = ${s.tenant.id} and action = ${action} and reason like ${`client=${url}%`}`;

beforeAll(async () => {
  const tls = localhostCertificate();
  cimd = await startCimdOrigin(tls);
  // The API's egress trusts the test CA, so the documents can be fetched over https.
  s = await startStack({ label: 'client-block', worker: 'none', env: { EGRESS_EXTRA_CA_PEM: tls.cert } });
}, 120_000);
afterAll(async () => {
  await cimd?.close();
  await s?.close();
});

describe('client block', () => {
  it('a document client in use: its refresh token, a new authorization request and the cached document are refused; another tenant keeps using it; unblock lifts it', async () => {
    const url = cimd.publish('/clients/rogue.json');
    const other = await startBuiltinTenant(s, 'ob', ['whoami']);
    const alice = await signIn(s.mcpUrl, 'alice', { clientMetadataUrl: url, connected: true });
    await alice.client.close();
    const elsewhere = await signIn(other.mcpUrl, 'bob', { clientMetadataUrl: url, connected: true });
    await elsewhere.client.close();
    const refresh = { grant_type: 'refresh_token', refresh_token: alice.auth.stored!.refresh_token!, client_id: url };
    expect((await authorize(s.issuer, url, s.mcpUrl)).status).toBe(303);

    const blocked = await clientBlock(cli(), { tenant: s.slug, clientId: url });
    expect(blocked).toEqual({ grants: 1, already: false });
    expect(out.at(-1)).toBe(`blocked: ${url} at tenant ${s.slug}; 1 grant(s) revoked with their codes and refresh tokens`);

    const refused = await tokenRequest(s.issuer, refresh);
    expect(refused).toEqual({ status: 400, body: { error: 'invalid_client', error_description: 'client is not allowed' } });
    // The document is still in oidc-provider's cache: the block is asked all the same.
    const fetches = cimd.fetches.get('/clients/rogue.json');
    const res = await authorize(s.issuer, url, s.mcpUrl);
    expect(res.status).toBe(400);
    expect(await res.text()).toContain('invalid_client');
    expect(cimd.fetches.get('/clients/rogue.json')).toBe(fetches);

    // Another tenant's users of the same document go on.
    const theirs = await tokenRequest(other.issuer, { grant_type: 'refresh_token', refresh_token: elsewhere.auth.stored!.refresh_token!, client_id: url });
    expect(theirs.status).toBe(200);
    expect((await authorize(other.issuer, url, other.mcpUrl)).status).toBe(303);

    // Twice: nothing more to do, still audited.
    expect(await clientBlock(cli(), { tenant: s.slug, clientId: url })).toEqual({ grants: 0, already: true });
    const rows = await audit('oauth_client.blocked', url);
    expect(rows).toHaveLength(2);
    expect(rows[0]!.reason).toMatch(new RegExp(`^client=\\S+ grants=1 rows=[1-9]\\d*$`));
    expect(rows[1]!.reason).toBe(`client=${url} grants=0 rows=0 already`);
    expect(rows[0]!.client_id).toMatch(/^cli/);

    await clientUnblock(cli(), { tenant: s.slug, clientId: url });
    expect((await authorize(s.issuer, url, s.mcpUrl)).status).toBe(303);
    expect(await audit('oauth_client.unblocked', url)).toHaveLength(1);
    await expect(clientUnblock(cli(), { tenant: s.slug, clientId: url })).rejects.toThrow(/has not blocked/);
    // The grant the block revoked stays revoked.
    expect((await tokenRequest(s.issuer, refresh)).body.error).toBe('invalid_grant');
  });

  it('a document never seen is not fetched once blocked; eight blocks at once write one block', async () => {
    const url = cimd.publish('/clients/never.json');
    const results = await Promise.all(Array.from({ length: 8 }, () => clientBlock(cli(), { tenant: s.slug, clientId: url })));
    expect(results.filter((r) => !r.already)).toHaveLength(1);
    const res = await authorize(s.issuer, url, s.mcpUrl);
    expect(res.status).toBe(400);
    expect(cimd.fetches.get('/clients/never.json')).toBeUndefined();
    const stored = await s.db.sql`select 1 from oidc_store where tenant_id = ${s.tenant.id} and model = 'BlockedClient' and id = ${storeKey(url)}`;
    expect(stored).toHaveLength(1);
  });

  it('refused: a registered client (delete it), an id that is not a document URL; `client delete` of a document URL says to block it', async () => {
    const svc = await serviceClientCreate(cli(), { tenant: s.slug, name: 'registered', scope: 'tools:whoami' });
    await expect(clientBlock(cli(), { tenant: s.slug, clientId: svc.clientId })).rejects.toBeInstanceOf(UsageError);
    for (const id of ['http://localhost/clients/plain.json', 'https://localhost/', 'https://localhost/doc.json#frag', 'https://user:pw@localhost/doc.json'])
      await expect(clientBlock(cli(), { tenant: s.slug, clientId: id })).rejects.toBeInstanceOf(UsageError);
    const url = cimd.publish('/clients/deleted.json');
    const deleted = clientDelete(cli(), { tenant: s.slug, clientId: url });
    await expect(deleted).rejects.toBeInstanceOf(CliError);
    await expect(deleted).rejects.toThrow(/block it with `client block`/);
    expect(
      (
        await tokenRequest(s.issuer, {
          grant_type: 'client_credentials',
          client_id: svc.clientId,
          client_secret: svc.clientSecret!,
          resource: s.mcpUrl,
          scope: 'tools:whoami',
        })
      ).status,
    ).toBe(200);
  });

  it('the console: a document client is blocked from its grant and unblocked from its list (CSRF-checked, audited with the key); another tenant’s operator changes nothing', async () => {
    const url = cimd.publish('/clients/console.json');
    const carol = await signIn(s.mcpUrl, 'carol', { clientMetadataUrl: url, connected: true });
    await carol.client.close();
    const key = await createKey(s.db.db, s.tenant.id, ['admin']);
    const op = new Operator(s.config.PUBLIC_URL, s.slug);
    expect((await op.signIn(key.key)).status).toBe(303);
    const page = await op.page('/clients');
    expect(page).toContain('Block client');
    const blockedList = async () => (await op.page('/clients')).split('<h2>Blocked metadata-document clients</h2>')[1]!;
    expect(await blockedList()).not.toContain(url);
    // Another tenant's operator names our document: its own tenant gets the block, ours does not.
    const other = await startBuiltinTenant(s, 'oc', ['whoami']);
    const foreign = new Operator(s.config.PUBLIC_URL, other.slug);
    expect((await foreign.signIn((await createKey(s.db.db, other.tenant.id, ['admin'])).key)).status).toBe(303);
    await foreign.page('/clients');
    expect((await foreign.post('/clients/block', { client: url })).status).toBe(303);
    expect((await authorize(s.issuer, url, s.mcpUrl)).status).toBe(303);
    // Without the form's CSRF token: refused, nothing blocked.
    expect((await op.post('/clients/block', { client: url }, { csrf: null })).status).toBe(403);
    expect((await authorize(s.issuer, url, s.mcpUrl)).status).toBe(303);

    expect((await op.post('/clients/block', { client: url })).status).toBe(303);
    expect((await tokenRequest(s.issuer, { grant_type: 'refresh_token', refresh_token: carol.auth.stored!.refresh_token!, client_id: url })).body.error).toBe(
      'invalid_client',
    );
    expect(await blockedList()).toContain(`<code>${url}</code>`);
    expect((await audit('oauth_client.blocked', url)).map((r) => r.client_id)).toEqual([`api_key:${key.id}`]);
    // A registered client's id is not a document: refused like an unknown client.
    expect((await op.post('/clients/block', { client: 'mcprt_not_a_document' })).status).toBe(404);

    expect((await op.post('/clients/unblock', { client: url })).status).toBe(303);
    expect((await op.post('/clients/unblock', { client: url })).status).toBe(404);
    expect((await authorize(s.issuer, url, s.mcpUrl)).status).toBe(303);
    expect(await audit('oauth_client.unblocked', url)).toHaveLength(1);
  });

  it('the real CLI: block, list shows it, unblock; a bad id is a usage error', async () => {
    const url = cimd.publish('/clients/cli.json');
    const block = await runCli(['client', 'block', '--tenant', s.slug, '--client-id', url], s.env);
    expect(block.code).toBe(0);
    const list = await runCli(['client', 'list', '--tenant', s.slug], s.env);
    expect(list.stdout).toMatch(new RegExp(`^${url.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')} {2}blocked {2}since=\\S+$`, 'm'));
    expect((await runCli(['client', 'unblock', '--tenant', s.slug, '--client-id', url], s.env)).code).toBe(0);
    expect((await runCli(['client', 'block', '--tenant', s.slug, '--client-id', 'not-a-url'], s.env)).code).toBe(2);
  });
});
