import { credentialVault } from '@mcprt/auth';
import { parseKeyring, type Keyring } from '@mcprt/crypto';
import { forTenant, tenantsRepository, type Credential, type Tenant, type TenantScope } from '@mcprt/db';
import { parseIntInRange, parseSlug } from '../args.js';
import { hint, type CliResources } from '../resources.js';
import { requireTenant } from '../tenant-urls.js';

export interface RotateFailure {
  tenant: string;
  credentialId: string;
  /** An error code (`seal_invalid`, `seal_unknown_key`, …); never a message or token text. */
  code: string;
}

export interface RotateSummary {
  activeKid: string;
  resealed: number;
  skipped: number;
  failed: RotateFailure[];
  exitCode: 0 | 1;
}

export interface KeysRotateInput {
  /** Rows fetched per query; default 500. */
  batch?: string | number;
  /** Only this tenant (default: all). */
  tenant?: string;
}

type Outcome = 'resealed' | 'skipped';

const errorCode = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : 'unknown_error';
};

/**
 * `keys rotate`: re-seals every stored credential not sealed under the active key. Safe to run while
 * the api and worker are up (every write is an optimistic version check) and to run again.
 */
export async function keysRotate(res: CliResources, input: KeysRotateInput = {}): Promise<RotateSummary> {
  const batch = parseIntInRange(input.batch, '--batch', 500, 1, 10_000);
  const only = input.tenant === undefined ? undefined : parseSlug(input.tenant, '--tenant');
  const keyring: Keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  const vault = credentialVault(keyring);
  const tenants: Tenant[] = only ? [await requireTenant(res.db, only)] : await tenantsRepository(res.db).list();

  const total = { resealed: 0, skipped: 0 };
  const failed: RotateFailure[] = [];

  const resealOne = async (scope: TenantScope, c: Credential): Promise<Outcome> => {
    if (await vault.reseal(scope, c)) return 'resealed';
    // A concurrent write (a sign-in, a token refresh) won: look again, and retry once.
    const fresh = await scope.credentials.byId(c.id);
    if (!fresh || fresh.keyId === keyring.activeKid) return 'skipped';
    return (await vault.reseal(scope, fresh)) ? 'resealed' : 'skipped';
  };

  for (const tenant of tenants) {
    const scope = forTenant(res.db, tenant.id);
    const counts = { resealed: 0, skipped: 0, failed: 0 };
    // Rows that failed or were skipped stay "not sealed with the active key", so the next query
    // returns them again: ask for that many more and leave them out, until nothing new comes back.
    const done = new Set<string>();
    for (;;) {
      const rows = (await scope.credentials.notSealedWith(keyring.activeKid, batch + done.size)).filter((c) => !done.has(c.id));
      if (rows.length === 0) break;
      for (const c of rows) {
        try {
          const outcome = await resealOne(scope, c);
          counts[outcome]++;
          if (outcome === 'skipped') done.add(c.id);
        } catch (err) {
          counts.failed++;
          done.add(c.id);
          failed.push({ tenant: tenant.slug, credentialId: c.id, code: errorCode(err) });
          res.out(`failed: tenant ${tenant.slug} credential ${c.id} (key ${c.keyId}): ${errorCode(err)}`);
        }
      }
    }
    total.resealed += counts.resealed;
    total.skipped += counts.skipped;
    if (counts.resealed + counts.skipped + counts.failed > 0) {
      res.out(`${tenant.slug}: resealed=${counts.resealed} skipped=${counts.skipped} failed=${counts.failed}`);
      await scope.audit.append({
        action: 'credential.resealed',
        decision: 'info',
        reason: `resealed=${counts.resealed} skipped=${counts.skipped} failed=${counts.failed} kid=${keyring.activeKid}`,
      });
    }
  }

  res.out(`active key ${keyring.activeKid}, ${tenants.length} tenant(s): resealed=${total.resealed} skipped=${total.skipped} failed=${failed.length}`);
  const secrets = tenants.filter((t) => t.idpClientSecretSealed || t.scavioKeySealed);
  if (secrets.length === 0) {
    res.out('tenant IdP client secrets and Scavio keys: none stored, nothing to re-seal');
  } else {
    res.out(
      `warning: ${secrets.length} tenant(s) hold a sealed IdP client secret or Scavio key (${secrets.map((t) => t.slug).join(', ')}); ` +
        'this command does not re-seal those yet, so keep their key in SEAL_KEYS',
    );
  }
  if (failed.length) {
    hint(res, '# Failed rows cannot be opened with this keyring (a key missing from SEAL_KEYS, or a damaged row).');
    hint(res, '# They are left unchanged; the users concerned must sign in again once the row is removed.');
  }
  return { activeKid: keyring.activeKid, ...total, failed, exitCode: failed.length ? 1 : 0 };
}
