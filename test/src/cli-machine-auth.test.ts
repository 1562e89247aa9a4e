import type { Config } from '@mcprt/config';
import { createDb, tenantsRepository, type DbHandle } from '@mcprt/db';
import { enterpriseClientCreate, serviceClientCreate, tenantTrustIdp, UsageError, type CliResources } from '@mcprt/cli';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './harness/cli-process.js';
import { configFrom, namespace, testEnv } from './harness/test-config.js';
import { cloneDatabase, type TestDatabase } from './harness/test-database.js';

/** The operator's commands for machine clients and enterprise IdPs: what they store, what they refuse. */
describe('cli: client create-service, client create-enterprise, tenant trust-idp', () => {
  let database: TestDatabase;
  let db: DbHandle;
  let env: Record<string, string>;
  let config: Config;
  const lines: string[] = [];
  const res = (): CliResources => ({ db: db.db, config, out: (l) => lines.push(l), err: () => undefined });
  const slug = namespace('cli-mauth').slug;

  beforeAll(async () => {
    database = await cloneDatabase('cli-mauth');
    env = testEnv({ port: 3998, queuePrefix: namespace('cli-mauth').queuePrefix, databaseUrl: database.appUrl });
    config = configFrom(env);
    db = createDb(config.DATABASE_URL, { max: 2 });
    await tenantsRepository(db.db).create({ slug, displayName: 'M', idpIssuer: 'https://idp.example', enabledTools: ['echo', 'whoami'], authMode: 'builtin' });
  });
  afterAll(async () => {
    await db?.close();
    await database?.drop();
  });

  it('create-service refuses scopes the tenant does not have, private JWKs, and unknown auth methods', async () => {
    await expect(serviceClientCreate(res(), { tenant: slug, name: 'x', scope: 'tools:web_search' })).rejects.toThrow(
      /tools:web_search is not a scope of this tenant/,
    );
    await expect(serviceClientCreate(res(), { tenant: slug, name: 'x', scope: '' })).rejects.toBeInstanceOf(UsageError);
    await expect(serviceClientCreate(res(), { tenant: slug, name: 'x', scope: 'tools:echo', auth: 'none' })).rejects.toThrow(/--auth must be one of/);
    const priv = JSON.stringify({ keys: [{ kty: 'EC', crv: 'P-256', x: 'a', y: 'b', d: 'secret' }] });
    await expect(serviceClientCreate(res(), { tenant: slug, name: 'x', scope: 'tools:echo', auth: 'private_key_jwt', jwks: priv })).rejects.toThrow(
      /private parts/,
    );
    await expect(serviceClientCreate(res(), { tenant: slug, name: 'x', scope: 'tools:echo', auth: 'private_key_jwt' })).rejects.toThrow(/--jwks is required/);
    lines.length = 0;
    const made = await serviceClientCreate(res(), { tenant: slug, name: 'ok', scope: 'tools:echo calls:read' });
    expect(lines[0]).toBe(`client_id ${made.clientId}`);
    expect(lines[1]).toBe(`principal svc:${made.clientId}   scopes tools:echo calls:read`);
    // The secret is printed once and stored only sealed.
    const rows = await db.sql`select payload::text as p from oidc_store where model = 'Client'`;
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.map((r) => r.p as string).join('')).not.toContain(made.clientSecret!);
  });

  it('trust-idp validates with the zod schema, replaces an issuer, and removes it', async () => {
    const c = await enterpriseClientCreate(res(), { tenant: slug, name: 'agent' });
    await expect(tenantTrustIdp(res(), { slug, issuer: 'not a url', jwksUri: 'https://i.example/jwks', clientIds: [c.clientId] })).rejects.toThrow(/--issuer/);
    await expect(tenantTrustIdp(res(), { slug, issuer: 'https://i.example', jwksUri: 'ftp://i.example/jwks', clientIds: [c.clientId] })).rejects.toThrow(
      /--jwks-uri/,
    );
    await expect(tenantTrustIdp(res(), { slug, issuer: 'https://i.example', jwksUri: 'https://i.example/jwks', clientIds: [] })).rejects.toThrow(/--client-id/);
    await tenantTrustIdp(res(), { slug, issuer: 'https://i.example', jwksUri: 'https://i.example/jwks', clientIds: [c.clientId] });
    await tenantTrustIdp(res(), { slug, issuer: 'https://i.example', jwksUri: 'https://i.example/keys', clientIds: [c.clientId] });
    const stored = (await tenantsRepository(db.db).bySlug(slug))!.enterpriseIdps;
    expect(stored).toEqual([{ issuer: 'https://i.example', jwksUri: 'https://i.example/keys', clientIds: [c.clientId] }]);
    await tenantTrustIdp(res(), { slug, issuer: 'https://i.example', remove: true });
    expect((await tenantsRepository(db.db).bySlug(slug))!.enterpriseIdps).toEqual([]);
  });

  it('the commands are in the CLI help', async () => {
    const help = await runCli(['help'], env);
    expect(help.stdout).toContain('client create-service');
    expect(help.stdout).toContain('client create-enterprise');
    expect(help.stdout).toContain('tenant trust-idp');
  });
});
