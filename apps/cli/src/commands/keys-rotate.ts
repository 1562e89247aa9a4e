import { credentialVault, type CredentialVault } from '@mcprt/providers';
import { parseKeyring, reseal, sealedKid, sealPurposes, tenantSealedSecrets, type Keyring, type SealHolding, type TenantSealedSecret } from '@mcprt/keyring';
import { forTenant, type TenantScope } from '@mcprt/calls';
import { oidcStoreRepository, tenantsRepository, type Credential, type Tenant } from '@mcprt/db';
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

export interface KeysRotateInput {
  /** Rows fetched per query; default 500. */
  batch?: string | number;
  /** Only this tenant (default: all). */
  tenant?: string;
}

type Outcome = 'resealed' | 'skipped';
type Counts = { resealed: number; skipped: number; failed: number };

/** One run of `keys rotate`: what it works with and what it has counted so far. */
interface Rotation {
  res: CliResources;
  keyring: Keyring;
  vault: CredentialVault;
  tenantsRepo: ReturnType<typeof tenantsRepository>;
  batch: number;
  credentials: { resealed: number; skipped: number };
  secrets: { resealed: number; skipped: number };
  failed: RotateFailure[];
}

/** How `keys rotate` reaches each kind of holder in the registry of seal purposes (`elsewhere`: not re-sealed in place). */
const WALKERS: Record<SealHolding['held'], ((r: Rotation, tenant: Tenant) => Promise<void>) | undefined> = {
  credential: rotateCredentials,
  tenant: async (r, t) => rotateSecrets(r, t, await tenantRowSecrets(r, t)),
  signing_key: async (r, t) => rotateSecrets(r, t, await signingKeySecrets(r, t)),
  oidc_store: async (r, t) => rotateSecrets(r, t, await storeRowSecrets(r, t)),
  elsewhere: undefined,
};

const kidOf = (sealed: string): string | undefined => {
  try {
    return sealedKid(sealed);
  } catch {
    return undefined; // not an envelope: reported by the open that follows
  }
};

const errorCode = (err: unknown): string => {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(code) ? code : 'unknown_error';
};

/**
 * `keys rotate`: walks the registry of seal purposes and re-seals, under the active key, every value
 * held where it can be re-sealed in place: stored credentials, every secret on a tenant row (IdP
 * client secret, connectable providers' client secrets, Scavio key), and the built-in authorization
 * servers' signing keys. Safe to run while the api and
 * worker are up (every credential write is an optimistic version check, every tenant secret write a
 * compare-and-set on the sealed value) and to run again.
 */
export async function keysRotate(res: CliResources, input: KeysRotateInput = {}): Promise<RotateSummary> {
  const batch = parseIntInRange(input.batch, '--batch', 500, 1, 10_000);
  const only = input.tenant === undefined ? undefined : parseSlug(input.tenant, '--tenant');
  const keyring = parseKeyring(res.config.SEAL_KEYS, res.config.SEAL_ACTIVE_KID);
  const tenantsRepo = tenantsRepository(res.db);
  const tenants: Tenant[] = only ? [await requireTenant(res.db, only)] : await tenantsRepo.list();
  const r: Rotation = {
    res,
    keyring,
    vault: credentialVault(keyring),
    tenantsRepo,
    batch,
    credentials: { resealed: 0, skipped: 0 },
    secrets: { resealed: 0, skipped: 0 },
    failed: [],
  };
  // Each kind of holder once, in the registry's order.
  const holders = [...new Set(Object.values(sealPurposes).map((p) => p.holding.held))];
  for (const tenant of tenants) for (const held of holders) await WALKERS[held]?.(r, tenant);
  report(r, tenants.length);
  return { activeKid: keyring.activeKid, ...r.credentials, secrets: r.secrets, failed: r.failed, exitCode: r.failed.length ? 1 : 0 };
}

/** A credential row: re-sealed with an optimistic version check; after a concurrent write (a sign-in, a refresh), looked at again and retried once. */
async function resealCredential(r: Rotation, scope: TenantScope, c: Credential): Promise<Outcome> {
  if (await r.vault.reseal(scope, c)) return 'resealed';
  const fresh = await scope.credentials.byId(c.id);
  if (!fresh || fresh.keyId === r.keyring.activeKid) return 'skipped';
  return (await r.vault.reseal(scope, fresh)) ? 'resealed' : 'skipped';
}

/** Every credential of `tenant` not sealed with the active key (both token columns, one row at a time). */
async function rotateCredentials(r: Rotation, tenant: Tenant): Promise<void> {
  const scope = forTenant(r.res.db, tenant.id);
  const counts: Counts = { resealed: 0, skipped: 0, failed: 0 };
  // Rows that failed or were skipped stay "not sealed with the active key", so the next query
  // returns them again: ask for that many more and leave them out, until nothing new comes back.
  const done = new Set<string>();
  for (;;) {
    const rows = (await scope.credentials.notSealedWith(r.keyring.activeKid, r.batch + done.size)).filter((c) => !done.has(c.id));
    if (rows.length === 0) break;
    for (const c of rows) {
      try {
        const outcome = await resealCredential(r, scope, c);
        counts[outcome]++;
        if (outcome === 'skipped') done.add(c.id);
      } catch (err) {
        counts.failed++;
        done.add(c.id);
        r.failed.push({ tenant: tenant.slug, credentialId: c.id, code: errorCode(err) });
        r.res.out(`failed: tenant ${tenant.slug} credential ${c.id} (key ${c.keyId}): ${errorCode(err)}`);
      }
    }
  }
  r.credentials.resealed += counts.resealed;
  r.credentials.skipped += counts.skipped;
  if (counts.resealed + counts.skipped + counts.failed === 0) return;
  r.res.out(`${tenant.slug}: resealed=${counts.resealed} skipped=${counts.skipped} failed=${counts.failed}`);
  await scope.audit.append({
    action: 'credential.resealed',
    decision: 'info',
    reason: `resealed=${counts.resealed} skipped=${counts.skipped} failed=${counts.failed} kid=${r.keyring.activeKid}`,
  });
}

/**
 * A secret held on a tenant row or in the tenant's signing-key table: opened with its own context (a
 * value misfiled under another tenant or purpose fails here), sealed under the active key, written
 * only if the holder still holds what was read.
 */
interface DueSecret {
  name: string;
  sealed: string;
  context: TenantSealedSecret['context'];
  /** Compare-and-set: `to` is written only if the holder still holds `from`. */
  replace(from: string, to: string): Promise<boolean>;
  /** The value held now (after a concurrent write won), or undefined if it is gone. */
  reread(): Promise<string | undefined>;
}

async function resealSecret(r: Rotation, s: DueSecret): Promise<Outcome> {
  if (await s.replace(s.sealed, reseal(r.keyring, s.sealed, s.context))) return 'resealed';
  // An operator's `tenant set-…` (or another rotation) won: look again, and retry once if it is still under an old key.
  const fresh = await s.reread();
  if (fresh === undefined || kidOf(fresh) === r.keyring.activeKid) return 'skipped';
  return (await s.replace(fresh, reseal(r.keyring, fresh, s.context))) ? 'resealed' : 'skipped';
}

/** The secrets on `tenant`'s row not sealed with the active key. */
async function tenantRowSecrets(r: Rotation, tenant: Tenant): Promise<DueSecret[]> {
  // Read fresh: the tenant list may be minutes old by now.
  const row = (await r.tenantsRepo.byId(tenant.id)) ?? tenant;
  return tenantSealedSecrets(row).map((x) => ({
    name: x.name,
    sealed: x.sealed,
    context: x.context,
    replace: (from, to) => r.tenantsRepo.replaceSealedSecret(tenant.id, x.slot, from, to),
    reread: async () => {
      const now = await r.tenantsRepo.byId(tenant.id);
      return now ? tenantSealedSecrets(now).find((y) => y.name === x.name)?.sealed : undefined;
    },
  }));
}

/** A built-in authorization server's signing keys (current and retired: both still verify), re-sealed as they are. */
async function signingKeySecrets(r: Rotation, tenant: Tenant): Promise<DueSecret[]> {
  const repo = oidcStoreRepository(r.res.db, tenant.id);
  return (await repo.signingKeys()).map((k) => ({
    name: `as_signing_key:${k.kid}`,
    sealed: k.privateJwkSealed,
    context: sealPurposes.as_signing_key.context(tenant.id, k.kid),
    replace: (from, to) => repo.replaceSealedSigningKey(k.kid, from, to),
    reread: async () => (await repo.signingKeys()).find((y) => y.kid === k.kid)?.privateJwkSealed,
  }));
}

/**
 * The live rows of a built-in authorization server's store not sealed with the active key, read a page
 * at a time: pre-registered clients and blocked documents never expire, so an old key must not be
 * removed while one is sealed with it; grants, sessions and tokens are re-sealed too, so no one has to
 * sign in again. Named by model only (a store id is a hash of a secret for some models).
 */
async function storeRowSecrets(r: Rotation, tenant: Tenant): Promise<DueSecret[]> {
  const repo = oidcStoreRepository(r.res.db, tenant.id);
  const due: DueSecret[] = [];
  for (let after = { model: '', id: '' }; ; ) {
    const rows = await repo.liveRowsAfter(after, r.batch);
    for (const row of rows) {
      if (kidOf(row.payload) === r.keyring.activeKid) continue;
      due.push({
        name: `oidc_store:${row.model}`,
        sealed: row.payload,
        context: sealPurposes.oidc_payload.context(tenant.id, row.model, row.id),
        replace: (from, to) => repo.replacePayload(row.model, row.id, from, to),
        reread: async () => (await repo.find(row.model, row.id))?.payload,
      });
    }
    if (rows.length < r.batch) return due;
    after = rows[rows.length - 1]!;
  }
}

async function rotateSecrets(r: Rotation, tenant: Tenant, all: DueSecret[]): Promise<void> {
  const due = all.filter((x) => kidOf(x.sealed) !== r.keyring.activeKid);
  if (due.length === 0) return;
  const sc: Counts = { resealed: 0, skipped: 0, failed: 0 };
  for (const x of due) {
    try {
      sc[await resealSecret(r, x)]++;
    } catch (err) {
      sc.failed++;
      r.failed.push({ tenant: tenant.slug, secret: x.name, code: errorCode(err) });
      r.res.out(`failed: tenant ${tenant.slug} secret ${x.name} (key ${kidOf(x.sealed) ?? 'unreadable'}): ${errorCode(err)}`);
    }
  }
  r.secrets.resealed += sc.resealed;
  r.secrets.skipped += sc.skipped;
  const names = [...new Set(due.map((x) => x.name))].join(',');
  r.res.out(`${tenant.slug}: tenant secrets resealed=${sc.resealed} skipped=${sc.skipped} failed=${sc.failed} (${names})`);
  await forTenant(r.res.db, tenant.id).audit.append({
    action: 'tenant_secret.resealed',
    decision: 'info',
    reason: `resealed=${sc.resealed} skipped=${sc.skipped} failed=${sc.failed} kid=${r.keyring.activeKid} secrets=${names}`.slice(0, 500),
  });
}

function report(r: Rotation, tenantCount: number): void {
  const { res, credentials, secrets, failed } = r;
  res.out(
    `active key ${r.keyring.activeKid}, ${tenantCount} tenant(s): resealed=${credentials.resealed} skipped=${credentials.skipped} failed=${failed.length}`,
  );
  const secretsFailed = failed.filter((f) => f.secret !== undefined).length;
  res.out(
    `tenant secrets (IdP and provider client secrets, Scavio keys, AS signing keys and stored rows): resealed=${secrets.resealed} skipped=${secrets.skipped} failed=${secretsFailed}`,
  );
  if (failed.length > secretsFailed) {
    hint(res, '# Failed rows cannot be opened with this keyring (a key missing from SEAL_KEYS, or a damaged row).');
    hint(res, '# They are left unchanged; the users concerned must sign in again once the row is removed.');
  }
  if (secretsFailed) {
    hint(res, '# A failed tenant secret cannot be opened with this keyring; it is left unchanged. Set it again');
    hint(res, '# (tenant set-idp, tenant set-upstream, tenant set-scavio-key; `as rotate-key` for a signing key) before removing its key from SEAL_KEYS.');
    hint(res, '# A failed oidc_store row: a grant, session or token is a sign-in to repeat; a client must be registered again (client create…).');
  }
  hint(res, '# Not re-sealed in place (what happens to them once an old key is removed):');
  for (const [name, p] of Object.entries(sealPurposes))
    if (p.holding.held === 'elsewhere') hint(res, `#   ${name} (${p.holding.where}): ${p.holding.rotation}`);
}
