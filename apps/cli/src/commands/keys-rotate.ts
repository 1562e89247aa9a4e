import { credentialVault, idpSecretContext, scavioKeyContext, upstreamSecretContext } from '@mcprt/providers';
import { parseKeyring, reseal, sealedKid, type Keyring, type SealContext } from '@mcprt/keyring';
import { forTenant, type TenantScope } from '@mcprt/calls';
import { tenantsRepository, type Credential, type Tenant, type TenantSecret } from '@mcprt/db';
import { parseIntInRange, parseSlug } from '../args.js';
import { hint, type CliResources } from '../resources.js';
import { requireTenant } from '../tenant-urls.js';

export interface RotateFailure {
  tenant: string;
  /** A stored credential that failed (or `secret`). */
  credentialId?: string;
  /** A tenant secret that failed: `idp_client_secret`, `scavio_api_key`, `upstream_client_secret:<provider>`. */
  secret?: string;
  /** An error code (`seal_invalid`, `seal_unknown_key`, …); never a message or token text. */
  code: string;
}

export interface RotateSummary {
  activeKid: string;
  /** Stored credentials (users' upstream tokens). */
  resealed: number;
  skipped: number;
  /** Secrets on tenant rows: IdP client secret, connectable providers' client secrets, Scavio key. */
  secrets: { resealed: number; skipped: number };
  /** Credentials and tenant secrets that could not be opened with this keyring. */
  failed: RotateFailure[];
  exitCode: 0 | 1;
}

/** One sealed secret on a tenant row, with the context it is sealed under (the same the api and worker open it with). */
interface SealedSecret {
  which: TenantSecret;
  name: string;
  sealed: string;
  context: SealContext;
}

/** Every sealed secret `t` holds (credential-vault.ts and upstream-settings.ts contexts). */
export function tenantSecrets(t: Tenant): SealedSecret[] {
  const out: SealedSecret[] = [];
  if (t.idpClientSecretSealed)
    out.push({ which: { kind: 'idp_client_secret' }, name: 'idp_client_secret', sealed: t.idpClientSecretSealed, context: idpSecretContext(t.id) });
  if (t.scavioKeySealed) out.push({ which: { kind: 'scavio_api_key' }, name: 'scavio_api_key', sealed: t.scavioKeySealed, context: scavioKeyContext(t.id) });
  for (const [provider, u] of Object.entries(t.upstreams).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))
    if (u.clientSecretSealed)
      out.push({
        which: { kind: 'upstream_client_secret', provider },
        name: `upstream_client_secret:${provider}`,
        sealed: u.clientSecretSealed,
        context: upstreamSecretContext(t.id, provider),
      });
  return out;
}

const kidOf = (sealed: string): string | undefined => {
  try {
    return sealedKid(sealed);
  } catch {
    return undefined; // not an envelope: reported by the open that follows
  }
};

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
 * `keys rotate`: re-seals every stored credential, and every secret on a tenant row (IdP client
 * secret, connectable providers' client secrets, Scavio key), not sealed under the active key. Safe
 * to run while the api and worker are up (every credential write is an optimistic version check,
 * every tenant secret write a compare-and-set on the sealed value) and to run again.
 */
export async function keysRotate(res: CliResources, input: KeysRotateInput = {}): Promise<RotateSummary> {
  const batch = parseIntInRange(input.batch, '--batch', 500, 1, 10_000);
  const only = input.tenant === undefined ? undefined : parseSlug(input.tenant, '--tenant');
  const keyring: Keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  const vault = credentialVault(keyring);
  const tenants: Tenant[] = only ? [await requireTenant(res.db, only)] : await tenantsRepository(res.db).list();

  const total = { resealed: 0, skipped: 0 };
  const secretTotal = { resealed: 0, skipped: 0 };
  const failed: RotateFailure[] = [];
  const tenantsRepo = tenantsRepository(res.db);

  // A tenant secret: opened with its own context (a value misfiled under another tenant or purpose
  // fails here), sealed under the active key, written only if the row still holds what was read.
  const resealSecret = async (tenantId: string, s: SealedSecret): Promise<Outcome> => {
    if (await tenantsRepo.replaceSealedSecret(tenantId, s.which, s.sealed, reseal(keyring, s.sealed, s.context))) return 'resealed';
    // An operator's `tenant set-…` won: look again, and retry once if it is still under an old key.
    const now = await tenantsRepo.byId(tenantId);
    const fresh = now ? tenantSecrets(now).find((x) => x.name === s.name) : undefined;
    if (!fresh || kidOf(fresh.sealed) === keyring.activeKid) return 'skipped';
    return (await tenantsRepo.replaceSealedSecret(tenantId, fresh.which, fresh.sealed, reseal(keyring, fresh.sealed, fresh.context))) ? 'resealed' : 'skipped';
  };

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

    // The tenant row's own secrets (read fresh: the list above may be minutes old by now).
    const row = (await tenantsRepo.byId(tenant.id)) ?? tenant;
    const due = tenantSecrets(row).filter((x) => kidOf(x.sealed) !== keyring.activeKid);
    if (due.length > 0) {
      const sc = { resealed: 0, skipped: 0, failed: 0 };
      for (const x of due) {
        try {
          sc[await resealSecret(tenant.id, x)]++;
        } catch (err) {
          sc.failed++;
          failed.push({ tenant: tenant.slug, secret: x.name, code: errorCode(err) });
          res.out(`failed: tenant ${tenant.slug} secret ${x.name} (key ${kidOf(x.sealed) ?? 'unreadable'}): ${errorCode(err)}`);
        }
      }
      secretTotal.resealed += sc.resealed;
      secretTotal.skipped += sc.skipped;
      const names = due.map((x) => x.name).join(',');
      res.out(`${tenant.slug}: tenant secrets resealed=${sc.resealed} skipped=${sc.skipped} failed=${sc.failed} (${names})`);
      await scope.audit.append({
        action: 'tenant_secret.resealed',
        decision: 'info',
        reason: `resealed=${sc.resealed} skipped=${sc.skipped} failed=${sc.failed} kid=${keyring.activeKid} secrets=${names}`.slice(0, 500),
      });
    }
  }

  res.out(`active key ${keyring.activeKid}, ${tenants.length} tenant(s): resealed=${total.resealed} skipped=${total.skipped} failed=${failed.length}`);
  const secretsFailed = failed.filter((f) => f.secret !== undefined).length;
  res.out(
    `tenant secrets (IdP and provider client secrets, Scavio keys): resealed=${secretTotal.resealed} skipped=${secretTotal.skipped} failed=${secretsFailed}`,
  );
  if (failed.length > secretsFailed) {
    hint(res, '# Failed rows cannot be opened with this keyring (a key missing from SEAL_KEYS, or a damaged row).');
    hint(res, '# They are left unchanged; the users concerned must sign in again once the row is removed.');
  }
  if (secretsFailed) {
    hint(res, '# A failed tenant secret cannot be opened with this keyring; it is left unchanged. Set it again');
    hint(res, '# (tenant set-idp, tenant set-upstream, tenant set-scavio-key) before removing its key from SEAL_KEYS.');
  }
  return { activeKid: keyring.activeKid, ...total, secrets: secretTotal, failed, exitCode: failed.length ? 1 : 0 };
}
