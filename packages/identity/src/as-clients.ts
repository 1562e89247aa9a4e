import { oidcStoreRepository, tenantRepositories, tenantsRepository, type EnterpriseIdp, type Executor, type OidcStoreRepository } from '@mcprt/db';
import type { Keyring } from '@mcprt/keyring';
import { JWT_BEARER_GRANT } from './id-jag.js';
import { randomBytes } from 'node:crypto';
import { openOidcPayload, operatorStoreRow, sealOidcPayload, storeKey } from './oidc-store-codec.js';

/**
 * The OAuth clients of a built-in tenant's authorization server, as an operator lists and deletes
 * them (`pnpm cli client list|delete|rotate-secret`, the admin console's Clients page): one reading, one deletion, one rotation,
 * over the rows oidc-provider keeps in `oidc_store` (ids hashed, payloads sealed). Clients come from
 * the CLI (pre-registered, no expiry) and from dynamic registration (they lapse when unused); a
 * Client ID Metadata Document client is not stored (oidc-provider fetches the document), so there is
 * nothing of it to delete: it is blocked instead (`blockAsClient`, below), which the tenant's
 * authorization server consults before it fetches or honours a document.
 */

/** public: PKCE, no secret; confidential: a secret, authorization code; service: client_credentials; enterprise: jwt-bearer (ID-JAG). */
export type AsClientKind = 'public' | 'confidential' | 'service' | 'enterprise';

export interface AsClientView {
  clientId: string;
  name: string;
  kind: AsClientKind;
  redirectUris: string[];
  /** `client_id_issued_at`. */
  createdAt: Date | undefined;
  /** A dynamic registration lapses when unused; null: never (pre-registered by the CLI). */
  expiresAt: Date | null;
  /** Its unexpired grants (users who allowed it). */
  grants: number;
}

interface ClientMetadata {
  client_id: string;
  client_name?: string;
  redirect_uris?: string[];
  grant_types?: string[];
  token_endpoint_auth_method?: string;
  client_id_issued_at?: number;
  client_secret?: string;
  jwks?: unknown;
}

export function clientKindOf(m: Pick<ClientMetadata, 'grant_types' | 'token_endpoint_auth_method'>): AsClientKind {
  const grants = m.grant_types ?? [];
  if (grants.includes('client_credentials')) return 'service';
  if (grants.includes(JWT_BEARER_GRANT)) return 'enterprise';
  return m.token_endpoint_auth_method === 'none' ? 'public' : 'confidential';
}

const PAGE = 500;

/**
 * Rows of `model` written before the client column (migration 0018), opened a page at a time, with
 * the client each names: the one place a client's rows are found by opening payloads. Such rows
 * expire within the grant lifetime (14 days), after which this reads nothing.
 */
async function* rowsWithoutClientColumn(
  db: Executor,
  keyring: Keyring,
  tenantId: string,
  model: string,
): AsyncGenerator<{ id: string; live: boolean; clientId: unknown }> {
  const store = oidcStoreRepository(db, tenantId);
  let after = '';
  for (;;) {
    const rows = await store.pageWithoutClient(model, after, PAGE);
    for (const row of rows) {
      const payload = openOidcPayload(keyring, tenantId, model, row.id, row.payload) as { clientId?: unknown };
      yield { id: row.id, live: row.expiresAt === null || row.expiresAt.getTime() > Date.now(), clientId: payload.clientId };
    }
    if (rows.length < PAGE) return;
    after = rows[rows.length - 1]!.id;
  }
}

/** The tenant's stored clients (at most `limit`, no secret in the view), each with its count of live grants. */
export async function listAsClients(db: Executor, keyring: Keyring, tenantId: string, limit = 200): Promise<AsClientView[]> {
  const store = oidcStoreRepository(db, tenantId);
  const counted = await store.grantCountsByClient();
  const legacy = new Map<unknown, number>();
  for await (const g of rowsWithoutClientColumn(db, keyring, tenantId, 'Grant')) if (g.live) legacy.set(g.clientId, (legacy.get(g.clientId) ?? 0) + 1);
  const rows = await store.ofModel('Client', limit);
  return rows.map((row) => {
    const c = openOidcPayload(keyring, tenantId, 'Client', row.id, row.payload) as ClientMetadata;
    return {
      clientId: c.client_id,
      name: c.client_name ?? '',
      kind: clientKindOf(c),
      redirectUris: c.redirect_uris ?? [],
      createdAt: c.client_id_issued_at ? new Date(c.client_id_issued_at * 1000) : undefined,
      expiresAt: row.expiresAt,
      grants: (counted.get(storeKey(c.client_id)) ?? 0) + (legacy.get(c.client_id) ?? 0),
    };
  });
}

export interface DeletedAsClient {
  clientId: string;
  name: string;
  kind: AsClientKind;
  /** Grants of the client deleted (with their codes and refresh tokens). */
  grants: number;
  /** Rows deleted beside the client: grants, codes, refresh tokens, registration access tokens. */
  rows: number;
  /** Trusted enterprise IdPs that named the client: the id taken off their list; an entry left naming no client is dropped. */
  idps: { issuer: string; dropped: boolean }[];
}

export interface DeleteAsClientInput {
  tenantId: string;
  clientId: string;
  /** Who deleted it, for the audit row's client column: `api_key:<id>` (console), `cli:<os user>` (CLI). */
  actor: string;
  requestId?: string | null;
}

/**
 * Deletes a client of this tenant, in one transaction: its registration row first (the statement
 * that decides: of N concurrent deletes one gets the row, the others wait for it and find nothing, so
 * the deletion and its audit row happen once), then every grant of it with each code and refresh
 * token of those grants and its registration access tokens (found by the client column, one indexed
 * statement; rows older than the column by opening them), its id in the trusted enterprise IdPs'
 * lists, and the audit row `oauth_client.deleted`. Undefined when the tenant has no such client
 * (another tenant's id is not found: every statement is bound to this tenant).
 *
 * oidc-provider reads a stored client from the adapter on every use (its in-process cache is keyed
 * by the payload's hash and only saves re-validation), so once this commits no replica authenticates
 * the client again. Its access tokens (JWTs, not stored) stay valid until they expire, as after a
 * grant revocation (docs/auth.md, "Client lifecycle").
 */
export async function deleteAsClient(db: Executor, keyring: Keyring, input: DeleteAsClientInput): Promise<DeletedAsClient | undefined> {
  const { tenantId, clientId } = input;
  return db.transaction(async (tx) => {
    const store = oidcStoreRepository(tx, tenantId);
    const row = await store.take('Client', storeKey(clientId));
    if (!row) return undefined;
    const meta = openOidcPayload(keyring, tenantId, 'Client', row.id, row.payload) as ClientMetadata;
    const { grants, rows } = await removeClientRows(tx, keyring, tenantId, clientId);
    const idps = await untrustClient(tx, tenantId, clientId);
    const deleted: DeletedAsClient = { clientId, name: meta.client_name ?? '', kind: clientKindOf(meta), grants, rows, idps };
    await tenantRepositories(tx, tenantId).audit.append({
      clientId: input.actor,
      action: 'oauth_client.deleted',
      decision: 'info',
      reason: deletionReason(deleted),
      requestId: input.requestId ?? null,
    });
    return deleted;
  });
}

/**
 * Every grant of a client with each code and refresh token of those grants, and its registration
 * access tokens: found by the client column (one indexed statement), rows older than the column by
 * opening them.
 */
async function removeClientRows(tx: Executor, keyring: Keyring, tenantId: string, clientId: string): Promise<{ grants: number; rows: number }> {
  const store = oidcStoreRepository(tx, tenantId);
  const byColumn = await store.destroyClientRows(storeKey(clientId));
  const legacyGrants: string[] = [];
  for await (const g of rowsWithoutClientColumn(tx, keyring, tenantId, 'Grant')) if (g.clientId === clientId) legacyGrants.push(g.id);
  const legacyRats: string[] = [];
  for await (const r of rowsWithoutClientColumn(tx, keyring, tenantId, 'RegistrationAccessToken')) if (r.clientId === clientId) legacyRats.push(r.id);
  const rows = byColumn.rows + (await store.revokeGrants(legacyGrants)) + (await store.destroyMany('RegistrationAccessToken', legacyRats));
  return { grants: byColumn.grants.length + legacyGrants.length, rows };
}

/** Takes the client off every trusted IdP's list (the tenant row locked meanwhile); an entry left with no client is dropped. */
async function untrustClient(tx: Executor, tenantId: string, clientId: string): Promise<DeletedAsClient['idps']> {
  const tenants = tenantsRepository(tx);
  const idps = (await tenants.enterpriseIdpsForUpdate(tenantId)) ?? [];
  const touched = idps.filter((e) => e.clientIds.includes(clientId));
  if (touched.length === 0) return [];
  const next: EnterpriseIdp[] = idps.map((e) => ({ ...e, clientIds: e.clientIds.filter((c) => c !== clientId) })).filter((e) => e.clientIds.length > 0);
  await tenants.setEnterpriseIdps(tenantId, next);
  return touched.map((e) => ({ issuer: e.issuer, dropped: e.clientIds.length === 1 }));
}

function deletionReason(d: DeletedAsClient): string {
  const idps = d.idps.map((i) => `${i.issuer}${i.dropped ? '(dropped)' : ''}`).join(',');
  return `client=${d.clientId} kind=${d.kind} grants=${d.grants} rows=${d.rows}${idps ? ` idps=${idps}` : ''}`.slice(0, 500);
}

export interface RotateAsClientSecretInput {
  tenantId: string;
  clientId: string;
  /** A client that signs its token requests (`private_key_jwt`): its new public keys, which replace the old ones. */
  jwks?: { keys: Record<string, unknown>[] } | undefined;
  /** Who rotated it, for the audit row's client column: `cli:<os user>`. */
  actor: string;
  requestId?: string | null;
}

export type RotatedAsClient =
  | { outcome: 'rotated'; clientId: string; kind: AsClientKind; /** The new secret (shown once; stored sealed). */ clientSecret?: string; keys?: number }
  | { outcome: 'not_found' }
  /** A public client has no secret; a key-signing client needs `jwks`, a secret client takes none. */
  | { outcome: 'refused'; message: string };

/**
 * A new secret for a client of this tenant that authenticates with one (confidential, service,
 * enterprise), or a new public key set for one that signs its token requests (`private_key_jwt`): the
 * stored registration is rewritten in place, so the client keeps its id, its grants, its place in
 * trusted IdPs' lists and — a service client — its principal `svc:<client_id>` (its audit history
 * reads on). oidc-provider reads a stored client from the adapter on every use, so from the commit on
 * every replica accepts the new secret and refuses the old one; access tokens already issued lapse
 * on their own (as after a deletion). The row is locked for the rewrite (concurrent rotations apply
 * one after another; the last one stands) and the rotation is audited `oauth_client.secret_rotated`,
 * never with the secret. Another tenant's client id is not found: every statement is bound to this tenant.
 */
export async function rotateAsClientSecret(db: Executor, keyring: Keyring, input: RotateAsClientSecretInput): Promise<RotatedAsClient> {
  const { tenantId, clientId } = input;
  return db.transaction(async (tx) => {
    const store = oidcStoreRepository(tx, tenantId);
    const id = storeKey(clientId);
    const row = await store.findForUpdate('Client', id);
    if (!row) return { outcome: 'not_found' as const };
    const meta = openOidcPayload(keyring, tenantId, 'Client', id, row.payload) as ClientMetadata & Record<string, unknown>;
    const kind = clientKindOf(meta);
    const method = meta.token_endpoint_auth_method ?? 'client_secret_basic';
    if (method === 'none') return { outcome: 'refused' as const, message: 'a public client (PKCE, no secret) has no secret to rotate' };
    const signs = method === 'private_key_jwt';
    if (signs && !input.jwks)
      return { outcome: 'refused' as const, message: 'this client signs its token requests (private_key_jwt): give its new public keys' };
    if (!signs && input.jwks) return { outcome: 'refused' as const, message: `this client authenticates with a secret (${method}): it takes no keys` };
    const clientSecret = signs ? undefined : randomBytes(32).toString('base64url');
    const next = signs ? { ...meta, jwks: input.jwks } : { ...meta, client_secret: clientSecret };
    await store.upsert({ ...row, payload: sealOidcPayload(keyring, tenantId, 'Client', id, next) });
    await tenantRepositories(tx, tenantId).audit.append({
      clientId: input.actor,
      action: 'oauth_client.secret_rotated',
      decision: 'info',
      reason: `client=${clientId} kind=${kind} ${signs ? `keys=${input.jwks!.keys.length}` : 'secret'}`.slice(0, 500),
      requestId: input.requestId ?? null,
    });
    return { outcome: 'rotated' as const, clientId, kind, ...(clientSecret ? { clientSecret } : { keys: input.jwks!.keys.length }) };
  });
}

/** The store model of a blocked metadata-document client: one row per client, keyed like a client, payload sealed. */
const BLOCKED_CLIENT = 'BlockedClient';

/**
 * A client id that can only be a Client ID Metadata Document's URL: `https:`, a path, no fragment,
 * no user info (the draft's rules), at most 2 000 characters. Registered clients' ids are never URLs.
 */
export function isMetadataDocumentClientId(id: string): boolean {
  if (id.length > 2_000) return false;
  const url = URL.parse(id);
  return url !== null && url.protocol === 'https:' && url.pathname !== '/' && url.hash === '' && url.username === '' && url.password === '';
}

export interface BlockAsClientInput {
  tenantId: string;
  /** The client's metadata document URL (its client_id). */
  clientId: string;
  /** Who blocked it, for the audit row's client column: `cli:<os user>`. */
  actor: string;
  requestId?: string | null;
}

export type BlockedAsClient =
  | {
      outcome: 'blocked';
      clientId: string;
      /** Grants revoked (with their codes and refresh tokens). */ grants: number;
      rows: number;
      /** It was blocked already. */ already: boolean;
    }
  | { outcome: 'refused'; message: string };

/**
 * Blocks a client this tenant knows only by its metadata document URL (CIMD; not stored, so there
 * is nothing to delete): from the commit on, the tenant's authorization server neither fetches its
 * document nor honours one it cached (oidc-provider's `allowFetch` and `allowClient`, which ask
 * `isClientBlocked` on every authorization and token request of such a client, on every replica),
 * and every grant of it goes with its codes and refresh tokens, in the same transaction. Its access
 * tokens already issued lapse within their lifetime (as after a deletion). Audited
 * `oauth_client.blocked`. A registered client is refused (delete it); so is an id that cannot be a
 * document's URL. Bound to this tenant: another tenant that uses the same document is not affected.
 * Blocking twice changes nothing more (one row per client, written if absent).
 */
export async function blockAsClient(db: Executor, keyring: Keyring, input: BlockAsClientInput): Promise<BlockedAsClient> {
  const { tenantId, clientId } = input;
  if (!isMetadataDocumentClientId(clientId))
    return { outcome: 'refused', message: 'only a client known by its metadata document URL (https://…/path) is blocked; delete a registered client' };
  return db.transaction(async (tx) => {
    const store = oidcStoreRepository(tx, tenantId);
    const id = storeKey(clientId);
    if (await store.find('Client', id)) return { outcome: 'refused' as const, message: 'a registered client: delete it instead' };
    const fresh = await store.insertIfAbsent(
      operatorStoreRow(keyring, tenantId, BLOCKED_CLIENT, clientId, { clientId, blockedAt: new Date().toISOString(), by: input.actor }),
    );
    const { grants, rows } = await removeClientRows(tx, keyring, tenantId, clientId);
    await tenantRepositories(tx, tenantId).audit.append({
      clientId: input.actor,
      action: 'oauth_client.blocked',
      decision: 'info',
      reason: `client=${clientId} grants=${grants} rows=${rows}${fresh ? '' : ' already'}`.slice(0, 500),
      requestId: input.requestId ?? null,
    });
    return { outcome: 'blocked' as const, clientId, grants, rows, already: !fresh };
  });
}

/** Lifts a block (`blockAsClient`): false when the client was not blocked. Audited `oauth_client.unblocked`. */
export async function unblockAsClient(db: Executor, input: BlockAsClientInput): Promise<boolean> {
  return db.transaction(async (tx) => {
    const gone = await oidcStoreRepository(tx, input.tenantId).take(BLOCKED_CLIENT, storeKey(input.clientId));
    if (!gone) return false;
    await tenantRepositories(tx, input.tenantId).audit.append({
      clientId: input.actor,
      action: 'oauth_client.unblocked',
      decision: 'info',
      reason: `client=${input.clientId}`.slice(0, 500),
      requestId: input.requestId ?? null,
    });
    return true;
  });
}

/** Whether this tenant blocked the client (the authorization server asks before it fetches or honours a metadata document). */
export async function isClientBlocked(repo: Pick<OidcStoreRepository, 'find'>, clientId: string): Promise<boolean> {
  return (await repo.find(BLOCKED_CLIENT, storeKey(clientId))) !== undefined;
}

/** The tenant's blocked metadata-document clients (at most `limit`): URL and when. */
export async function listBlockedClients(db: Executor, keyring: Keyring, tenantId: string, limit = 200): Promise<{ clientId: string; blockedAt: string }[]> {
  const rows = await oidcStoreRepository(db, tenantId).ofModel(BLOCKED_CLIENT, limit);
  return rows.map((row) => {
    const b = openOidcPayload(keyring, tenantId, BLOCKED_CLIENT, row.id, row.payload) as { clientId: string; blockedAt: string };
    return { clientId: b.clientId, blockedAt: b.blockedAt };
  });
}
