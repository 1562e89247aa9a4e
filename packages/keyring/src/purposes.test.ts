import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { generateKey, parseKeyring } from './keyring.js';
import { sealPurposes, tenantSealedSecrets } from './purposes.js';
import { open, seal } from './seal.js';

const root = fileURLToPath(new URL('../../..', import.meta.url));

/** Production TypeScript under apps/*\/src and packages/*\/src (tests, builds and dependencies left out). */
function productionFiles(): string[] {
  const out: string[] = [];
  const walk = (dir: string) => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      if (e.name === 'node_modules' || e.name === 'dist') continue;
      const p = join(dir, e.name);
      if (e.isDirectory()) walk(p);
      else if (e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts')) out.push(p);
    }
  };
  for (const top of ['apps', 'packages'])
    for (const pkg of readdirSync(join(root, top), { withFileTypes: true }))
      if (pkg.isDirectory()) {
        const src = join(root, top, pkg.name, 'src');
        try {
          walk(src);
        } catch {
          // a package without src/
        }
      }
  return out;
}

describe('the registry of seal purposes', () => {
  it('is the only place a seal context is made', () => {
    const registry = new Set(['packages/keyring/src/purposes.ts', 'packages/keyring/src/context.ts']);
    const makers = [/\bsealContext\(/, /\bas SealContext\b/, /\bpurpose:\s*['"`]/];
    const files = productionFiles();
    expect(files.length).toBeGreaterThan(50);
    const offenders = files
      .map((f) => relative(root, f).split('\\').join('/'))
      .filter((f) => !registry.has(f))
      .filter((f) => makers.some((m) => m.test(readFileSync(join(root, f), 'utf8'))));
    expect(offenders).toEqual([]);
  });

  it("binds each purpose's values to its own name, so no two purposes open each other's values", () => {
    const ring = parseKeyring(`k1:${generateKey()}`);
    const names = Object.keys(sealPurposes);
    expect(names.length).toBeGreaterThanOrEqual(13);
    const contexts = {
      access_token: sealPurposes.access_token.context({ tenantId: 't', userId: 'u', credentialId: 'c' }),
      refresh_token: sealPurposes.refresh_token.context({ tenantId: 't', userId: 'u', credentialId: 'c' }),
      idp_client_secret: sealPurposes.idp_client_secret.context('t'),
      scavio_api_key: sealPurposes.scavio_api_key.context('t'),
      upstream_client_secret: sealPurposes.upstream_client_secret.context('t', 'github'),
      call_arguments: sealPurposes.call_arguments.context({ tenantId: 't', userId: 'u', callId: 'c' }),
      call_input_responses: sealPurposes.call_input_responses.context({ tenantId: 't', userId: 'u', callId: 'c' }),
      request_state: sealPurposes.request_state.context({ tenantId: 't', userId: 'u', clientId: 'app', tool: 'echo' }),
      as_signing_key: sealPurposes.as_signing_key.context('t', 'k'),
      oidc_payload: sealPurposes.oidc_payload.context('t', 'Session', 'h'),
      connect_link: sealPurposes.connect_link.context('t', 'github'),
      upstream_connect: sealPurposes.upstream_connect.context('t', 'u', 'github'),
      connect_signin: sealPurposes.connect_signin.context('t'),
      connect_signed_in: sealPurposes.connect_signed_in.context('t'),
      upstream_login: sealPurposes.upstream_login.context('t', 'uid'),
    } satisfies Record<keyof typeof sealPurposes, unknown>;
    for (const [name, ctx] of Object.entries(contexts)) expect(ctx.purpose).toBe(name);
    const sealed = seal(ring, 'v', contexts.access_token);
    for (const [name, ctx] of Object.entries(contexts)) {
      if (name === 'access_token') expect(open(ring, sealed, ctx)).toBe('v');
      else expect(() => open(ring, sealed, ctx)).toThrow(/failed authentication/);
    }
  });

  it('lists the sealed secrets of a tenant row in registry order, each with its own context', () => {
    const upstream = (clientSecretSealed: string) => ({ kind: 'oidc' as const, issuer: 'https://idp.example', clientId: 'c', scopes: [], clientSecretSealed });
    const row = {
      id: 't1',
      idpClientSecretSealed: 'a',
      scavioKeySealed: null,
      upstreams: { google: upstream('g'), github: upstream('h'), gitlab: upstream('') },
    };
    const secrets = tenantSealedSecrets(row);
    expect(secrets.map((s) => s.name)).toEqual(['idp_client_secret', 'upstream_client_secret:github', 'upstream_client_secret:google']);
    expect(secrets[1]).toMatchObject({ slot: { kind: 'upstream_client_secret', provider: 'github' }, sealed: 'h' });
    expect(secrets[1]!.context).toEqual(sealPurposes.upstream_client_secret.context('t1', 'github'));
  });
});
