import { credentialVault } from '@mcprt/providers';
import type { Config } from '@mcprt/config';
import { generateKey, open, parseKeyring, parseKeyringEntries, seal, sealedKid, sealPurposes } from '@mcprt/keyring';
import { createDb, oidcStoreRepository, tenantsRepository, type Credential, type Database, type DbHandle, type Tenant } from '@mcprt/db';
import { forTenant } from '@mcprt/calls';
import { loadSigningKeys, openOidcPayload, operatorStoreRow, rotateSigningKey, storeKey } from '@mcprt/identity';
import { defaultKid, keysGenerate, keysRotate, UsageError } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './harness/cli-process.js';
import { configFrom, namespace, testEnv } from './harness/test-config.js';
import { cloneDatabase, type TestDatabase } from './harness/test-database.js';

/** Flip the first character of the ciphertext part: still a well-formed envelope, but it fails authentication. */
function tamper(sealed: string): string {
  const parts = sealed.split('.');
  parts[3] = (parts[3]![0] === 'A' ? 'B' : 'A') + parts[3]!.slice(1);
  return parts.join('.');
}

describe('cli: keys rotate, end to end', () => {
  const k1 = `k1:${generateKey()}`;
  const k2 = `k2:${generateKey()}`;
  const k0 = `k0:${generateKey()}`; // a key nobody configured any more
  const ns = namespace('cli-keys');
  let database: TestDatabase;
  const env = (sealKeys: string) => testEnv({ port: 3998, queuePrefix: ns.queuePrefix, databaseUrl: database.appUrl, sealKeys });
  const configWith = (sealKeys: string): Config => configFrom(env(sealKeys));
  const plain = {
    alice: { accessToken: 'upstream-access-alice', refreshToken: 'upstream-refresh-alice' },
    bob: { accessToken: 'upstream-access-bob', refreshToken: null },
    carol: { accessToken: 'upstream-access-carol', refreshToken: null },
    dave: { accessToken: 'upstream-access-dave', refreshToken: null },
  };
  let db: DbHandle;
  let tenant: Tenant;
  const ids: Record<string, Credential> = {};
  const lines: string[] = [];
  const rotate = (sealKeys: string, batch?: number) => {
    lines.length = 0;
    return keysRotate({ db: db.db, config: configWith(sealKeys), out: (l) => lines.push(l) }, { tenant: tenant.slug, ...(batch ? { batch } : {}) });
  };
  /** Another tenant of this test, with a fresh slug. */
  const newTenant = (displayName: string) =>
    tenantsRepository(db.db).create({ slug: namespace('cli-keys').slug, displayName, idpIssuer: 'https://idp.example.com', enabledTools: [] });
  const row = async (name: string) => (await forTenant(db.db, tenant.id).credentials.byId(ids[name]!.id))!;

  beforeAll(async () => {
    database = await cloneDatabase('cli-keys');
    db = createDb(configWith(k1).DATABASE_URL, { max: 2 });
    tenant = await tenantsRepository(db.db).create({ slug: ns.slug, displayName: 'keys', idpIssuer: 'https://idp.example.com', enabledTools: ['whoami'] });
    const scope = forTenant(db.db, tenant.id);
    const store = async (name: keyof typeof plain, spec: string) => {
      const user = await scope.users.upsert({ issuer: tenant.idpIssuer, subject: name });
      ids[name] = await credentialVault(parseKeyring(spec)).store(scope, user.id, 'idp', { ...plain[name], expiresAt: null, scopes: ['openid'] });
    };
    await store('alice', k1);
    await store('bob', k1);
    await store('carol', k1);
    await store('dave', k0);
    // carol's row is damaged: a well-formed envelope under k1 that no longer authenticates.
    await db.sql`update credentials set access_token_sealed = ${tamper(ids.carol!.accessTokenSealed)} where id = ${ids.carol!.id}`;
    ids.carol = await row('carol');
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('re-seals under the new active key; damaged or unknown-key rows are reported failed and left as they were', async () => {
    // Small batches, so the loop must step past the failed rows it keeps getting back.
    const summary = await rotate(`${k1},${k2}`, 1);

    expect(summary.activeKid).toBe('k2');
    expect(summary.resealed).toBe(2);
    expect(summary.skipped).toBe(0);
    expect(summary.failed).toEqual(
      expect.arrayContaining([
        { tenant: tenant.slug, credentialId: ids.carol!.id, code: 'seal_invalid' },
        { tenant: tenant.slug, credentialId: ids.dave!.id, code: 'seal_unknown_key' },
      ]),
    );
    expect(summary.failed).toHaveLength(2);
    expect(summary.exitCode).toBe(1);
    expect(lines).toContain(`${tenant.slug}: resealed=2 skipped=0 failed=2`);
    expect(lines).toContain(`failed: tenant ${tenant.slug} credential ${ids.carol!.id} (key k1): seal_invalid`);
    expect(lines.at(-2)).toBe('active key k2, 1 tenant(s): resealed=2 skipped=0 failed=2');
    expect(lines.at(-1)).toBe('tenant secrets (IdP and provider client secrets, Scavio keys, AS signing keys and stored rows): resealed=0 skipped=0 failed=0');
    // No token text in the output, not even of the rows that failed.
    for (const p of Object.values(plain)) expect(lines.join('\n')).not.toContain(p.accessToken);

    const both = credentialVault(parseKeyring(`${k1},${k2}`));
    const onlyK2 = credentialVault(parseKeyring(k2));
    for (const name of ['alice', 'bob'] as const) {
      const r = await row(name);
      expect(r.keyId).toBe('k2');
      expect(sealedKid(r.accessTokenSealed)).toBe('k2');
      expect(r.version).toBe(ids[name]!.version + 1);
      expect(both.openAccessToken(r, r.accessTokenSealed)).toBe(plain[name].accessToken);
      // The old key is no longer needed for these rows.
      expect(onlyK2.openAccessToken(r, r.accessTokenSealed)).toBe(plain[name].accessToken);
      expect(onlyK2.openRefreshToken(r)).toBe(plain[name].refreshToken);
    }
    expect((await row('alice')).refreshTokenSealed && sealedKid((await row('alice')).refreshTokenSealed!)).toBe('k2');

    for (const name of ['carol', 'dave'] as const) expect(await row(name)).toEqual(ids[name]);

    const audit = await db.sql`select action, decision, reason, user_id from audit_events where tenant_id = ${tenant.id} order by id`;
    expect(audit).toEqual([{ action: 'credential.resealed', decision: 'info', reason: 'resealed=2 skipped=0 failed=2 kid=k2', user_id: null }]);
  });

  it('is idempotent: a second run re-seals nothing, and once the broken rows are gone it exits 0', async () => {
    const again = await rotate(`${k1},${k2}`);
    expect(again.resealed).toBe(0);
    expect(again.failed.map((f) => f.credentialId).sort()).toEqual([ids.carol!.id, ids.dave!.id].sort());
    expect(again.exitCode).toBe(1);
    expect((await row('alice')).version).toBe(ids.alice!.version + 1); // untouched by the second run

    await db.sql`delete from credentials where id in ${db.sql([ids.carol!.id, ids.dave!.id])}`;
    const clean = await rotate(`${k1},${k2}`);
    expect(clean).toMatchObject({ resealed: 0, skipped: 0, failed: [], exitCode: 0 });
    expect(lines.at(-2)).toBe('active key k2, 1 tenant(s): resealed=0 skipped=0 failed=0');
    // A tenant with nothing to do gets no audit row.
    const audit = await db.sql`select reason from audit_events where tenant_id = ${tenant.id} order by id`;
    expect(audit.map((a) => a.reason)).toEqual(['resealed=2 skipped=0 failed=2 kid=k2', 'resealed=0 skipped=0 failed=2 kid=k2']);
  });

  it('main: `keys rotate` exits 1 when a row cannot be opened', async () => {
    const scope = forTenant(db.db, tenant.id);
    const erin = await scope.users.upsert({ issuer: tenant.idpIssuer, subject: 'erin' });
    const cred = await credentialVault(parseKeyring(k0)).store(scope, erin.id, 'idp', { accessToken: 'upstream-access-erin', expiresAt: null, scopes: [] });
    const run = await runCli(['keys', 'rotate', '--tenant', tenant.slug], env(`${k1},${k2}`));
    expect(run.code).toBe(1);
    expect(run.stdout).toContain(`failed: tenant ${tenant.slug} credential ${cred.id} (key k0): seal_unknown_key`);
    expect(run.stdout).not.toContain('upstream-access-erin');
  });

  it('a row written concurrently is re-read: retried once if still under the old key, skipped if already re-sealed', async () => {
    const t = await newTenant('race');
    const scope = forTenant(db.db, t.id);
    const [frank, gina] = await Promise.all(['frank', 'gina'].map((subject) => scope.users.upsert({ issuer: t.idpIssuer, subject })));
    const old = credentialVault(parseKeyring(k1));
    await old.store(scope, frank!.id, 'idp', { accessToken: 'frank-1', expiresAt: null, scopes: [] });
    await old.store(scope, gina!.id, 'idp', { accessToken: 'gina-1', expiresAt: null, scopes: [] });

    // A database whose first "not sealed with" read returns rows that are stale by the time they are
    // written: frank's row is bumped (still k1, e.g. a status change), gina signs in again (sealed under k2).
    let raced = false;
    const racing = Object.create(db.db) as Database;
    racing.select = ((...args: Parameters<Database['select']>) => {
      const builder = db.db.select(...args);
      const from = builder.from.bind(builder);
      builder.from = ((table: Parameters<typeof from>[0]) => {
        const query = from(table);
        const then = query.then.bind(query);
        query.then = ((ok, ko) =>
          then(async (rows) => {
            if (!raced && rows.length > 0) {
              raced = true;
              const f = (await scope.credentials.get(frank!.id, 'idp'))!;
              await scope.credentials.updateIfVersion(f.id, f.version, { status: 'active' });
              await credentialVault(parseKeyring(`${k1},${k2}`)).store(scope, gina!.id, 'idp', { accessToken: 'gina-2', expiresAt: null, scopes: [] });
            }
            return rows;
          }).then(ok, ko)) as typeof query.then;
        return query;
      }) as typeof builder.from;
      return builder;
    }) as Database['select'];

    const summary = await keysRotate({ db: racing, config: configWith(`${k1},${k2}`), out: () => {} }, { tenant: t.slug });
    expect(raced).toBe(true);
    expect(summary).toMatchObject({ resealed: 1, skipped: 1, failed: [], exitCode: 0 });
    const onlyK2 = credentialVault(parseKeyring(k2));
    const f = (await scope.credentials.get(frank!.id, 'idp'))!;
    const g = (await scope.credentials.get(gina!.id, 'idp'))!;
    expect([f.keyId, g.keyId]).toEqual(['k2', 'k2']);
    expect(onlyK2.openAccessToken(f, f.accessTokenSealed)).toBe('frank-1');
    expect(onlyK2.openAccessToken(g, g.accessTokenSealed)).toBe('gina-2'); // the newer sign-in wins, not overwritten
  });

  it("re-seals the tenant's IdP client secret, provider client secrets and Scavio key under the new key; a misfiled or unknown-key secret is reported and left", async () => {
    const repo = tenantsRepository(db.db);
    const t = await newTenant('secrets');
    const other = await newTenant('other');
    const r1 = parseKeyring(k1);
    const secret = { idp: 'idp-client-secret-plain', github: 'gh-client-secret-plain', google: 'google-client-secret-plain', scavio: 'scavio-key-plain' };
    await repo.setIdpClient(t.id, { clientId: 'mcprt', clientSecretSealed: seal(r1, secret.idp, sealPurposes.idp_client_secret.context(t.id)) });
    await repo.setScavioKey(t.id, seal(r1, secret.scavio, sealPurposes.scavio_api_key.context(t.id)));
    const upstream = (provider: string, clientSecretSealed: string) =>
      repo.setUpstream(t.id, provider, {
        kind: provider === 'github' ? 'github' : 'google',
        issuer: 'https://up.example.com',
        clientId: provider,
        clientSecretSealed,
        scopes: [],
      });
    await upstream('github', seal(r1, secret.github, sealPurposes.upstream_client_secret.context(t.id, 'github')));
    await upstream('google', seal(r1, secret.google, sealPurposes.upstream_client_secret.context(t.id, 'google')));
    // Misfiled: another tenant's sealed value copied into this row (the context binds it to `other`).
    await upstream('gitlab', seal(r1, 'stolen', sealPurposes.upstream_client_secret.context(other.id, 'gitlab')));
    // Under a key nobody has any more.
    await upstream('azure', seal(parseKeyring(k0), 'lost', sealPurposes.upstream_client_secret.context(t.id, 'azure')));
    const before = (await repo.byId(t.id))!;

    lines.length = 0;
    const summary = await keysRotate({ db: db.db, config: configWith(`${k1},${k2}`), out: (l) => lines.push(l) }, { tenant: t.slug });
    expect(summary.secrets).toEqual({ resealed: 4, skipped: 0 });
    expect(summary.failed).toEqual(
      expect.arrayContaining([
        { tenant: t.slug, secret: 'upstream_client_secret:gitlab', code: 'seal_invalid' },
        { tenant: t.slug, secret: 'upstream_client_secret:azure', code: 'seal_unknown_key' },
      ]),
    );
    expect(summary.failed).toHaveLength(2);
    expect(summary.exitCode).toBe(1);
    expect(lines).toContain(
      `${t.slug}: tenant secrets resealed=4 skipped=0 failed=2 (idp_client_secret,scavio_api_key,upstream_client_secret:azure,upstream_client_secret:github,upstream_client_secret:gitlab,upstream_client_secret:google)`,
    );
    expect(lines.at(-1)).toBe('tenant secrets (IdP and provider client secrets, Scavio keys, AS signing keys and stored rows): resealed=4 skipped=0 failed=2');
    for (const p of [...Object.values(secret), 'stolen', 'lost']) expect(lines.join('\n')).not.toContain(p);

    // Under k2 now, and k2 alone opens them, each with its own context (what the api and worker open with).
    const after = (await repo.byId(t.id))!;
    const onlyK2 = parseKeyring(k2);
    expect(sealedKid(after.idpClientSecretSealed!)).toBe('k2');
    expect(open(onlyK2, after.idpClientSecretSealed!, sealPurposes.idp_client_secret.context(t.id))).toBe(secret.idp);
    expect(open(onlyK2, after.scavioKeySealed!, sealPurposes.scavio_api_key.context(t.id))).toBe(secret.scavio);
    expect(open(onlyK2, after.upstreams['github']!.clientSecretSealed, sealPurposes.upstream_client_secret.context(t.id, 'github'))).toBe(secret.github);
    expect(open(onlyK2, after.upstreams['google']!.clientSecretSealed, sealPurposes.upstream_client_secret.context(t.id, 'google'))).toBe(secret.google);
    // The rest of the settings untouched; the two that failed left exactly as they were.
    expect(after.upstreams['github']).toEqual({ ...before.upstreams['github'], clientSecretSealed: after.upstreams['github']!.clientSecretSealed });
    expect(after.upstreams['gitlab']).toEqual(before.upstreams['gitlab']);
    expect(after.upstreams['azure']).toEqual(before.upstreams['azure']);
    expect(after.idpClientId).toBe('mcprt');

    const audit = await db.sql`select action, reason from audit_events where tenant_id = ${t.id} order by id`;
    expect(audit).toEqual([
      {
        action: 'tenant_secret.resealed',
        reason:
          'resealed=4 skipped=0 failed=2 kid=k2 secrets=idp_client_secret,scavio_api_key,upstream_client_secret:azure,upstream_client_secret:github,upstream_client_secret:gitlab,upstream_client_secret:google',
      },
    ]);

    // Idempotent: the next run touches only the two that still fail; once they are removed it exits 0.
    lines.length = 0;
    const again = await keysRotate({ db: db.db, config: configWith(`${k1},${k2}`), out: (l) => lines.push(l) }, { tenant: t.slug });
    expect(again.secrets).toEqual({ resealed: 0, skipped: 0 });
    expect(again.failed.map((f) => f.secret).sort()).toEqual(['upstream_client_secret:azure', 'upstream_client_secret:gitlab']);
    expect((await repo.byId(t.id))!.idpClientSecretSealed).toBe(after.idpClientSecretSealed);
    await db.sql`update tenants set upstreams = upstreams - 'gitlab' - 'azure' where id = ${t.id}`;
    const clean = await keysRotate({ db: db.db, config: configWith(`${k1},${k2}`), out: () => {} }, { tenant: t.slug });
    expect(clean).toMatchObject({ secrets: { resealed: 0, skipped: 0 }, failed: [], exitCode: 0 });
  });

  it("re-seals a built-in authorization server's signing keys (current and retired) in place: same keys, same kids, k2 alone opens them; a misfiled one is reported", async () => {
    const t = await newTenant('as');
    const other = await newTenant('as-other');
    const store = oidcStoreRepository(db.db, t.id);
    const r1 = parseKeyring(k1);
    await loadSigningKeys(t.id, store, r1); // the first key
    await rotateSigningKey(t.id, store, r1); // a second; the first is retired and still verifies
    const before = await loadSigningKeys(t.id, store, r1);
    expect(before.privateJwks).toHaveLength(2);

    lines.length = 0;
    const summary = await keysRotate({ db: db.db, config: configWith(`${k1},${k2}`), out: (l) => lines.push(l) }, { tenant: t.slug });
    expect(summary).toMatchObject({ secrets: { resealed: 2, skipped: 0 }, failed: [], exitCode: 0 });
    const kids = before.privateJwks.map((k) => k.kid!);
    expect(lines).toContain(`${t.slug}: tenant secrets resealed=2 skipped=0 failed=0 (${kids.map((k) => `as_signing_key:${k}`).join(',')})`);
    for (const k of before.privateJwks) expect(lines.join('\n')).not.toContain(k.d!);
    const rows = await store.signingKeys();
    expect(rows.map((r) => sealedKid(r.privateJwkSealed))).toEqual(['k2', 'k2']);
    // The same keys, in the same order (the current one signs), opened with k2 alone.
    expect(await loadSigningKeys(t.id, store, parseKeyring(k2))).toEqual(before);
    expect((await db.sql`select reason from audit_events where tenant_id = ${t.id} and action = 'tenant_secret.resealed'`).length).toBe(1);

    // Another tenant's key copied into this tenant's table: its context names the other tenant, so it fails and stays.
    const stolen = (await store.signingKeys())[0]!;
    const foreign = oidcStoreRepository(db.db, other.id);
    await db.sql`insert into tenant_signing_keys (tenant_id, kid, alg, private_jwk_sealed)
      values (${other.id}, ${stolen.kid}, 'ES256', ${seal(r1, open(parseKeyring(k2), stolen.privateJwkSealed, sealPurposes.as_signing_key.context(t.id, stolen.kid)), sealPurposes.as_signing_key.context(t.id, stolen.kid))})`;
    const misfiled = await keysRotate({ db: db.db, config: configWith(`${k1},${k2}`), out: () => {} }, { tenant: other.slug });
    expect(misfiled.failed).toEqual([{ tenant: other.slug, secret: `as_signing_key:${stolen.kid}`, code: 'seal_invalid' }]);
    expect(sealedKid((await foreign.signingKeys())[0]!.privateJwkSealed)).toBe('k1');
  });

  it("re-seals a built-in authorization server's live stored rows (a pre-registered client, a blocked document, a grant) in place; an expired row is left; k2 alone opens them", async () => {
    const t = await newTenant('store');
    const store = oidcStoreRepository(db.db, t.id);
    const r1 = parseKeyring(k1);
    const client = { client_id: 'mcprt_svc_kept', client_secret: 'svc-secret-kept', grant_types: ['client_credentials'] };
    await store.upsert(operatorStoreRow(r1, t.id, 'Client', client.client_id, client));
    await store.upsert(operatorStoreRow(r1, t.id, 'BlockedClient', 'https://app.example/client.json', { clientId: 'https://app.example/client.json' }));
    const inAnHour = new Date(Date.now() + 3_600_000);
    await store.upsert({ ...operatorStoreRow(r1, t.id, 'Grant', 'grant-live', { jti: 'grant-live' }), expiresAt: inAnHour });
    await store.upsert({ ...operatorStoreRow(r1, t.id, 'Grant', 'grant-expired', { jti: 'grant-expired' }), expiresAt: new Date(Date.now() - 1_000) });

    lines.length = 0;
    const summary = await keysRotate({ db: db.db, config: configWith(`${k1},${k2}`), out: (l) => lines.push(l) }, { tenant: t.slug });
    expect(summary).toMatchObject({ secrets: { resealed: 3, skipped: 0 }, failed: [], exitCode: 0 });
    expect(lines).toContain(`${t.slug}: tenant secrets resealed=3 skipped=0 failed=0 (oidc_store:BlockedClient,oidc_store:Client,oidc_store:Grant)`);
    expect(lines.join('\n')).not.toContain('svc-secret-kept');
    const kidsOf = async () =>
      Object.fromEntries(
        (await db.sql`select model, id, payload from oidc_store where tenant_id = ${t.id} order by model, id`).map((row) => [
          `${row.model as string}:${row.id as string}`,
          sealedKid(row.payload as string),
        ]),
      );
    const kids = await kidsOf();
    expect(Object.values(kids).sort()).toEqual(['k1', 'k2', 'k2', 'k2']);
    expect(kids[`Grant:${storeKey('grant-expired')}`]).toBe('k1');
    // The client opens with k2 alone, as the authorization server will read it once k1 is removed.
    const row = (await store.find('Client', storeKey(client.client_id)))!;
    expect(openOidcPayload(parseKeyring(k2), t.id, 'Client', row.id, row.payload)).toEqual(client);
    // Nothing left: a second run re-seals nothing.
    expect(await keysRotate({ db: db.db, config: configWith(`${k1},${k2}`), out: () => {} }, { tenant: t.slug })).toMatchObject({ secrets: { resealed: 0 } });
  });

  it('a tenant secret changed meanwhile is not overwritten (compare-and-set on the sealed value)', async () => {
    const repo = tenantsRepository(db.db);
    const t = await newTenant('cas');
    const r1 = parseKeyring(k1);
    const first = seal(r1, 'first', sealPurposes.scavio_api_key.context(t.id));
    const second = seal(r1, 'second', sealPurposes.scavio_api_key.context(t.id));
    await repo.setScavioKey(t.id, second); // the operator set a new key after `first` was read
    expect(await repo.replaceSealedSecret(t.id, { kind: 'scavio_api_key' }, first, 'x')).toBe(false);
    expect((await repo.byId(t.id))!.scavioKeySealed).toBe(second);
    const gh = seal(r1, 'gh', sealPurposes.upstream_client_secret.context(t.id, 'github'));
    await repo.setUpstream(t.id, 'github', { kind: 'github', issuer: 'https://github.com', clientId: 'c', clientSecretSealed: gh, scopes: [] });
    expect(await repo.replaceSealedSecret(t.id, { kind: 'upstream_client_secret', provider: 'github' }, 'stale', 'x')).toBe(false);
    expect(await repo.replaceSealedSecret(t.id, { kind: 'upstream_client_secret', provider: 'google' }, gh, 'x')).toBe(false); // no such provider
    expect(await repo.replaceSealedSecret(t.id, { kind: 'upstream_client_secret', provider: 'github' }, gh, 'new')).toBe(true);
    expect((await repo.byId(t.id))!.upstreams['github']).toMatchObject({ clientSecretSealed: 'new', clientId: 'c' });
  });

  it('keys generate prints a valid new entry that fits the current keyring', () => {
    const out: string[] = [];
    const notes: string[] = [];
    const now = new Date(Date.UTC(2026, 1, 3, 4, 5));
    expect(defaultKid(now)).toBe('k202602030405');

    const { entry } = keysGenerate({ out: (l) => out.push(l), err: (l) => notes.push(l), config: configWith(`${k1},${k2}`) }, { now });
    expect(out).toEqual([`k202602030405:${entry.key}`]);
    expect(parseKeyring(`${k1},${k2},${out[0]}`).activeKid).toBe('k202602030405');
    expect(notes.join('\n')).toContain(`SEAL_KEYS="$SEAL_KEYS,${out[0]}"`);
    expect(notes.join('\n')).not.toContain(parseKeyringEntries(k1)[0]!.key); // existing keys are never printed

    expect(() => keysGenerate({ out: () => {}, config: configWith(k1) }, { kid: 'k1' })).toThrow(UsageError);
    expect(() => keysGenerate({ out: () => {} }, { kid: 'bad.kid' })).toThrow(/--kid must be/);
    const fresh: string[] = [];
    keysGenerate({ out: (l) => fresh.push(l) }, { kid: 'first' });
    expect(parseKeyring(fresh[0]!).activeKid).toBe('first');
  });
});
