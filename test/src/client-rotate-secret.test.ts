import { CliError, clientRotateSecret, serviceClientCreate, UsageError } from '@mcprt/cli';
import { decodeJwt, exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { startBuiltinTenant } from './harness/builtin-tenant.js';
import { runCli } from './harness/cli-process.js';
import { freePort } from './harness/free-port.js';
import { signIn, tokenRequest } from './harness/oauth-client.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * Rotating a built-in tenant's client secret in place (`client rotate-secret`, one
 * `rotateAsClientSecret`): the client keeps its id and principal, the old secret is refused at once on
 * every API replica and the new one accepted; a private_key_jwt client swaps its public keys the same
 * way. Public clients, another tenant's client, the wrong kind of credential and concurrent rotations
 * are each answered as they should be; the secret is printed once and stored sealed. Real API,
 * Postgres and oidc-provider.
 */
let s: Stack;
let other: AppProcess;
let otherIssuer: string;
const out: string[] = [];
const cli = () => ({ db: s.db.db, config: s.config, out: (l: string) => out.push(l), err: () => undefined });
const rotations = async (clientId: string) =>
  s.db
    .sql`select client_id, reason from audit_events where tenant_id = ${s.tenant.id} and action = 'oauth_client.secret_rotated' and reason like ${`client=${clientId} %`}`;

beforeAll(async () => {
  s = await startStack({ label: 'client-rotate', worker: 'none' });
  const port = await freePort();
  // A second replica (same PUBLIC_URL, another port and process): no copy of the client may linger there.
  other = spawnApp('api', { ...s.env, PORT: String(port) });
  await other.ready;
  otherIssuer = `http://127.0.0.1:${port}/t/${s.slug}`;
}, 120_000);
afterAll(async () => {
  other?.child.kill('SIGTERM');
  await other?.exited;
  await s?.close();
});

const credentials = (clientId: string, clientSecret: string) => ({
  grant_type: 'client_credentials',
  client_id: clientId,
  client_secret: clientSecret,
  resource: s.mcpUrl,
  scope: 'tools:echo',
});

describe('client rotate-secret', () => {
  it('a service client: the old secret is refused and the new one accepted on both replicas at once; same principal; audited, never the secret', async () => {
    const svc = await serviceClientCreate(cli(), { tenant: s.slug, name: 'nightly job', scope: 'tools:echo' });
    const old = credentials(svc.clientId, svc.clientSecret!);
    const before = await tokenRequest(otherIssuer, old);
    expect(before.status).toBe(200);
    expect((await tokenRequest(s.issuer, old)).status).toBe(200);

    const rotated = await clientRotateSecret(cli(), { tenant: s.slug, clientId: svc.clientId });
    expect(rotated.clientSecret).toMatch(/^[\w-]{43}$/);
    expect(rotated.clientSecret).not.toBe(svc.clientSecret);
    expect(out).toContain(`client_secret ${rotated.clientSecret}   (shown once; stored sealed)`);

    for (const issuer of [otherIssuer, s.issuer]) {
      const refused = await tokenRequest(issuer, old);
      expect(refused.status).toBe(401);
      expect(refused.body.error).toBe('invalid_client');
      const after = await tokenRequest(issuer, credentials(svc.clientId, rotated.clientSecret!));
      expect(after.status).toBe(200);
      expect(decodeJwt(after.body.access_token!).sub).toBe(decodeJwt(before.body.access_token!).sub);
    }
    const audit = await rotations(svc.clientId);
    expect(audit).toHaveLength(1);
    expect(audit[0]!.reason).toBe(`client=${svc.clientId} kind=service secret`);
    expect(audit[0]!.client_id).toMatch(/^cli/);
    // Stored sealed: no row of the tenant's store, and no audit row, holds the secret.
    const [hits] = await s.db.sql`
      select (select count(*) from oidc_store where tenant_id = ${s.tenant.id} and payload like ${`%${rotated.clientSecret}%`})::int as store,
             (select count(*) from audit_events where tenant_id = ${s.tenant.id} and reason like ${`%${rotated.clientSecret}%`})::int as audit`;
    expect(hits).toEqual({ store: 0, audit: 0 });
  });

  it('eight rotations at once: one after another, eight audit rows, and only the secret of the last one works', async () => {
    const svc = await serviceClientCreate(cli(), { tenant: s.slug, name: 'raced', scope: 'tools:echo' });
    const secrets = (await Promise.all(Array.from({ length: 8 }, () => clientRotateSecret(cli(), { tenant: s.slug, clientId: svc.clientId })))).map(
      (r) => r.clientSecret!,
    );
    expect(new Set(secrets).size).toBe(8);
    const statuses = await Promise.all(
      [svc.clientSecret!, ...secrets].map(async (secret) => (await tokenRequest(s.issuer, credentials(svc.clientId, secret))).status),
    );
    expect(statuses.filter((code) => code === 200)).toHaveLength(1);
    expect(statuses.filter((code) => code === 401)).toHaveLength(8);
    expect(statuses[0]).toBe(401);
    expect(await rotations(svc.clientId)).toHaveLength(8);
  });

  it('a private_key_jwt client swaps its keys: an assertion signed with the old key is refused, with the new one accepted; no secret is made', async () => {
    const first = await generateKeyPair('ES256');
    const svc = await serviceClientCreate(cli(), {
      tenant: s.slug,
      name: 'signed job',
      scope: 'tools:echo',
      auth: 'private_key_jwt',
      jwks: JSON.stringify({ keys: [{ ...(await exportJWK(first.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' }] }),
    });
    const signed = async (key: CryptoKey, kid: string) => ({
      grant_type: 'client_credentials',
      client_id: svc.clientId,
      client_assertion_type: 'urn:ietf:params:oauth:client-assertion-type:jwt-bearer',
      client_assertion: await new SignJWT({ jti: crypto.randomUUID() })
        .setProtectedHeader({ alg: 'ES256', kid })
        .setIssuer(svc.clientId)
        .setSubject(svc.clientId)
        .setAudience(s.issuer)
        .setIssuedAt()
        .setExpirationTime('2m')
        .sign(key),
      resource: s.mcpUrl,
      scope: 'tools:echo',
    });
    expect((await tokenRequest(s.issuer, await signed(first.privateKey, 'k1'))).status).toBe(200);
    // Without the new keys: refused, nothing changes.
    await expect(clientRotateSecret(cli(), { tenant: s.slug, clientId: svc.clientId })).rejects.toThrow(/\(private_key_jwt\): give its new public keys/);
    const second = await generateKeyPair('ES256', { extractable: true });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(second.publicKey)), kid: 'k2', alg: 'ES256', use: 'sig' }] });
    // Private parts are refused before anything is read.
    const leaked = JSON.stringify({ keys: [{ ...(await exportJWK(second.privateKey)), kid: 'k2' }] });
    await expect(clientRotateSecret(cli(), { tenant: s.slug, clientId: svc.clientId, jwks: leaked })).rejects.toBeInstanceOf(UsageError);
    const rotated = await clientRotateSecret(cli(), { tenant: s.slug, clientId: svc.clientId, jwks });
    expect(rotated.clientSecret).toBeUndefined();
    expect((await tokenRequest(s.issuer, await signed(first.privateKey, 'k1'))).status).toBe(401);
    expect((await tokenRequest(otherIssuer, await signed(second.privateKey, 'k2'))).status).toBe(200);
    expect((await rotations(svc.clientId))[0]!.reason).toBe(`client=${svc.clientId} kind=service keys=1`);
  });

  it('refused: a public client, keys for a secret client, another tenant’s client, an unknown id; nothing is changed or audited', async () => {
    const alice = await signIn(s.mcpUrl, 'alice', { connected: true });
    await alice.client.close();
    const publicId = alice.auth.client!.client_id;
    await expect(clientRotateSecret(cli(), { tenant: s.slug, clientId: publicId })).rejects.toThrow(/public client .* has no secret/);

    const svc = await serviceClientCreate(cli(), { tenant: s.slug, name: 'kept', scope: 'tools:echo' });
    const { publicKey } = await generateKeyPair('ES256');
    const jwks = JSON.stringify({ keys: [await exportJWK(publicKey)] });
    await expect(clientRotateSecret(cli(), { tenant: s.slug, clientId: svc.clientId, jwks })).rejects.toThrow(/authenticates with a secret/);

    const b = await startBuiltinTenant(s, 'rb', ['echo']);
    const foreign = await serviceClientCreate(cli(), { tenant: b.slug, name: 'theirs', scope: 'tools:echo' });
    const notFound = clientRotateSecret(cli(), { tenant: s.slug, clientId: foreign.clientId });
    await expect(notFound).rejects.toBeInstanceOf(CliError);
    await expect(notFound).rejects.toThrow(/has no client/);
    await expect(clientRotateSecret(cli(), { tenant: s.slug, clientId: 'no-such-client' })).rejects.toThrow(/has no client/);

    expect((await tokenRequest(b.issuer, { ...credentials(foreign.clientId, foreign.clientSecret!), resource: b.mcpUrl })).status).toBe(200);
    expect((await tokenRequest(s.issuer, credentials(svc.clientId, svc.clientSecret!))).status).toBe(200);
    for (const id of [publicId, svc.clientId, foreign.clientId]) expect(await rotations(id)).toHaveLength(0);
  });

  it('the real CLI prints the new secret once, on stdout only; a missing --client-id is a usage error', async () => {
    const svc = await serviceClientCreate(cli(), { tenant: s.slug, name: 'cli rotated', scope: 'tools:echo' });
    const run = await runCli(['client', 'rotate-secret', '--tenant', s.slug, '--client-id', svc.clientId], s.env);
    expect(run.code).toBe(0);
    const secret = /^client_secret (\S+) {3}\(shown once; stored sealed\)$/m.exec(run.stdout)?.[1];
    expect(secret).toBeDefined();
    expect(run.stderr).not.toContain(secret!);
    expect(run.stdout.split(secret!)).toHaveLength(2);
    expect((await tokenRequest(s.issuer, credentials(svc.clientId, secret!))).status).toBe(200);
    expect((await runCli(['client', 'rotate-secret', '--tenant', s.slug], s.env)).code).toBe(2);
  });
});
