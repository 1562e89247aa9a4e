import { createHash } from 'node:crypto';
import { open, seal, sealPurposes, type Keyring } from '@mcprt/keyring';

/**
 * How the built-in authorization servers' rows are written, shared by the API's
 * oidc-provider adapter and the CLI (pre-registered clients): ids, grant ids, uids and user codes are
 * stored as SHA-256 (codes and token ids are bearer secrets); payloads are sealed with the keyring,
 * bound to (tenant, model, hashed id), so a payload copied to another row or tenant does not open.
 */
export const storeKey = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url');

const payloadContext = sealPurposes.oidc_payload.context;

export const sealOidcPayload = (keyring: Keyring, tenantId: string, model: string, hashedId: string, payload: unknown): string =>
  seal(keyring, JSON.stringify(payload), payloadContext(tenantId, model, hashedId));

export const openOidcPayload = (keyring: Keyring, tenantId: string, model: string, hashedId: string, sealed: string): unknown =>
  JSON.parse(open(keyring, sealed, payloadContext(tenantId, model, hashedId)));

/**
 * A row an operator writes (a pre-registered client, a blocked document client): keyed by the hash of
 * `key`, linked to no grant, account, client, uid or user code, never expiring, its payload sealed.
 */
export function operatorStoreRow(keyring: Keyring, tenantId: string, model: string, key: string, payload: unknown) {
  const id = storeKey(key);
  return {
    model,
    id,
    grantId: null,
    accountId: null,
    clientId: null,
    uid: null,
    userCode: null,
    payload: sealOidcPayload(keyring, tenantId, model, id, payload),
    expiresAt: null,
  };
}
