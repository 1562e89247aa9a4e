import { startApi } from '@mcprt/api';
import { tenantsRepository } from '@mcprt/db';
import { generateKey, parseKeyring, seal, sealPurposes } from '@mcprt/keyring';
import { startWorker } from '@mcprt/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawnApp } from './harness/app-process.js';
import { captureLogs } from './harness/secret-scan.js';
import { startStack, type Stack } from './harness/stack.js';

/**
 * A database whose secrets were sealed with other keys (another checkout's `.env`): the API and the
 * worker refuse to start, saying so and what to do, instead of starting and answering 500 on every
 * sign-in. The stack's tenant is built-in (its IdP client secret sealed by `tenant set-idp`) and its
 * authorization server has signing keys once a token was minted.
 */
describe('start-up with SEAL_KEYS that do not open the stored secrets', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack({ label: 'keyring-mismatch', worker: 'none' });
    await s.token('alice'); // the tenant's AS signing key exists and is sealed
  });
  afterAll(() => s?.close());

  const other = () => ({ ...s.config, PORT: 0, METRICS_PORT: 0, WORKER_METRICS_PORT: 0, SEAL_KEYS: `k1:${generateKey()}` });

  it('the API and the worker stop with keyring_mismatch, naming the secret and what to do', async () => {
    for (const start of [() => startApi(other(), { migrate: false }), () => startWorker(other(), { migrate: false })]) {
      const err = (await start().then(
        (p) => {
          void p.stop();
          return new Error('started');
        },
        (e: unknown) => e,
      )) as { code?: string; message: string };
      expect(err.code).toBe('keyring_mismatch');
      expect(err.message).toMatch(/sealed with other keys than SEAL_KEYS/);
      expect(err.message).toContain(`tenant ${s.slug}: idp_client_secret`);
      expect(err.message).toMatch(/Use the SEAL_KEYS it was set up with/);
      expect(err.message).toMatch(/dropdb mcprt/);
    }
  });

  it('`pnpm start`’s API process exits 1 and prints the code and what to do, no stack trace', { timeout: 60_000 }, async () => {
    const app = spawnApp('api', s.env, { SEAL_KEYS: other().SEAL_KEYS, PORT: '0', METRICS_PORT: '0' });
    app.ready.catch(() => undefined);
    expect(await app.exited).toBe(1);
    expect(app.output()).toMatch(/^keyring_mismatch: The database's stored secrets were sealed with other keys than SEAL_KEYS/m);
    expect(app.output()).not.toMatch(/^\s+at /m);
  });

  it('the same keys with another active key (a rotation under way) start; when only some secrets open, the process starts and warns', async () => {
    // The stack's key plus a new active one: everything stored still opens.
    const api = await startApi({ ...other(), SEAL_KEYS: `${s.config.SEAL_KEYS},k2:${generateKey()}`, SEAL_ACTIVE_KID: 'k2' }, { migrate: false });
    await api.stop();
    // A second tenant whose IdP client secret was sealed with a key this keyring does not hold.
    const tenants = tenantsRepository(s.db.db);
    const t = await tenants.create({ slug: `${s.slug}-b`, displayName: 'B', idpIssuer: s.idp.issuer, enabledTools: ['whoami'] });
    const foreign = parseKeyring(`k9:${generateKey()}`);
    await tenants.setIdpClient(t.id, { clientId: 'c', clientSecretSealed: seal(foreign, 'secret', sealPurposes.idp_client_secret.context(t.id)) });
    const { log, lines } = captureLogs();
    const api2 = await startApi({ ...other(), SEAL_KEYS: s.config.SEAL_KEYS }, { migrate: false, log });
    await api2.stop();
    const warning = lines.map((l) => JSON.parse(l) as { msg: string; failing?: string[] }).find((l) => l.failing);
    expect(warning?.msg).toMatch(/some stored secrets do not open with SEAL_KEYS/);
    expect(warning?.failing).toEqual([`tenant ${s.slug}-b: idp_client_secret`]);
  });
});
