import { createHash } from 'node:crypto';
import { open, seal, type Keyring, type SealContext } from '@mcprt/crypto';
import type { OidcStoreRepository } from '@mcprt/db';
import type { Adapter, AdapterPayload } from 'oidc-provider';

/**
 * The lookup form of an oidc-provider id, grant id, uid or user code. Codes and token ids are bearer
 * secrets; the table keeps only their SHA-256, so a leaked row (or backup) redeems nothing.
 */
export const storeKey = (value: string) => createHash('sha256').update(value, 'utf8').digest('base64url');

const payloadContext = (tenantId: string, model: string, hashedId: string): SealContext => ({
  tenantId,
  userId: 'oidc-provider',
  credentialId: `${model}:${hashedId}`,
  purpose: 'oidc_payload',
});

/**
 * oidc-provider's storage adapter for one tenant (issue 8): Postgres rows scoped by tenant, ids hashed,
 * payloads (client secrets, registration tokens, sessions, grants) sealed with the keyring and bound to
 * (tenant, model, hashed id) so a payload copied to another row or tenant does not open. Rows carry
 * their expiry; `sweepExpiredOidcRows` deletes them, and `find` ignores an expired row meanwhile.
 */
/** A dynamically registered client not used for this long is gone (its next request: `invalid_client`, so it re-registers). */
export const REGISTRATION_TTL_SECONDS = 30 * 86_400;

export function postgresAdapter(tenantId: string, repo: OidcStoreRepository, keyring: Keyring): new (model: string) => Adapter {
  return class PostgresAdapter implements Adapter {
    readonly #model: string;

    constructor(model: string) {
      this.#model = model;
    }

    async upsert(id: string, payload: AdapterPayload, expiresIn: number): Promise<void> {
      const key = storeKey(id);
      await repo.upsert({
        model: this.#model,
        id: key,
        grantId: payload.grantId ? storeKey(payload.grantId) : null,
        uid: payload.uid ? storeKey(payload.uid) : null,
        userCode: payload.userCode ? storeKey(payload.userCode) : null,
        payload: seal(keyring, JSON.stringify(payload), payloadContext(tenantId, this.#model, key)),
        expiresAt: expiresIn
          ? new Date(Date.now() + expiresIn * 1000)
          : this.#model === 'Client'
            ? new Date(Date.now() + REGISTRATION_TTL_SECONDS * 1000)
            : null,
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      return this.#read(await repo.find(this.#model, storeKey(id)));
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#read(await repo.findBy(this.#model, 'uid', storeKey(uid)));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#read(await repo.findBy(this.#model, 'userCode', storeKey(userCode)));
    }

    async consume(id: string): Promise<void> {
      await repo.consume(this.#model, storeKey(id));
    }

    async destroy(id: string): Promise<void> {
      await repo.destroy(this.#model, storeKey(id));
    }

    async revokeByGrantId(grantId: string): Promise<void> {
      await repo.revokeByGrantId(storeKey(grantId));
    }

    #read(row: Awaited<ReturnType<OidcStoreRepository['find']>>): AdapterPayload | undefined {
      if (!row) return undefined;
      if (row.expiresAt && row.expiresAt.getTime() <= Date.now()) return undefined;
      const payload = JSON.parse(open(keyring, row.payload, payloadContext(tenantId, this.#model, row.id))) as AdapterPayload;
      if (row.consumedAt) payload.consumed = Math.floor(row.consumedAt.getTime() / 1000);
      return payload;
    }
  };
}
