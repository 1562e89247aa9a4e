import type { DbHandle } from '@mcprt/db';
import { appError } from '@mcprt/errors';
import { open, sealPurposes, tenantSealedSecrets, type Keyring, type SealContext, type TenantSealedFields } from '@mcprt/keyring';

/** How many stored secrets the start-up check tries (the newest tenants' first). */
const SAMPLE = 20;

interface Sampled {
  where: string;
  sealed: string;
  context: SealContext;
}

/** Sealed values of the newest tenants: their tenant-row secrets and built-in AS signing keys, with their contexts. */
async function sampleSealed(db: DbHandle): Promise<Sampled[]> {
  const tenants = await db.sql<(TenantSealedFields & { slug: string })[]>`
    select id, slug, idp_client_secret_sealed as "idpClientSecretSealed", scavio_key_sealed as "scavioKeySealed", upstreams
    from tenants order by created_at desc limit ${SAMPLE}`;
  const keys = await db.sql<{ tenantId: string; slug: string; kid: string; privateJwkSealed: string }[]>`
    select k.tenant_id as "tenantId", t.slug, k.kid, k.private_jwk_sealed as "privateJwkSealed"
    from tenant_signing_keys k join tenants t on t.id = k.tenant_id
    where k.retired_at is null order by k.created_at desc limit ${SAMPLE}`;
  return [
    ...tenants.flatMap((t) => tenantSealedSecrets(t).map((s) => ({ where: `tenant ${t.slug}: ${s.name}`, sealed: s.sealed, context: s.context }))),
    ...keys.map((k) => ({
      where: `tenant ${k.slug}: authorization server signing key`,
      sealed: k.privateJwkSealed,
      context: sealPurposes.as_signing_key.context(k.tenantId, k.kid),
    })),
  ].slice(0, SAMPLE);
}

/**
 * At start-up: can this process's keyring (SEAL_KEYS) open what the database holds? A database whose
 * secrets were all sealed with other keys (another checkout's `.env`, a restored dump without its keys)
 * would start and then answer 500 on every sign-in and call; this stops it first, saying why and what
 * to do (`keyring_mismatch`). Up to SAMPLE values are opened (AES-GCM, no network). Some opening and
 * some not (a key removed too early after a rotation) is not this: `warn` names the ones that do not,
 * and the process starts.
 */
export async function checkKeyringOpensStoredSecrets(db: DbHandle, keyring: Keyring, warn: (msg: string, failing: string[]) => void): Promise<void> {
  const sampled = await sampleSealed(db);
  const failing = sampled.filter((s) => {
    try {
      open(keyring, s.sealed, s.context);
      return false;
    } catch {
      return true;
    }
  });
  if (!failing.length) return;
  const names = failing.map((f) => f.where);
  if (failing.length < sampled.length) {
    warn('some stored secrets do not open with SEAL_KEYS (a key removed before `keys rotate` re-sealed them?)', names);
    return;
  }
  throw appError(
    'keyring_mismatch',
    `The database's stored secrets were sealed with other keys than SEAL_KEYS: none of ${sampled.length} opens (${names.slice(0, 3).join('; ')}). ` +
      'This database belongs to another checkout or deployment. Use the SEAL_KEYS it was set up with (that checkout’s .env), ' +
      'or, for a development database, start from an empty one (drop it — e.g. `dropdb mcprt` — or point DATABASE_URL at another database) and run `pnpm start` again. ' +
      'Never replace SEAL_KEYS in production: the sealed tokens and secrets are lost without their keys.',
    { details: { failing: names } },
  );
}
