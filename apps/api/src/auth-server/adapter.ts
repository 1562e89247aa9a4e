import { openOidcPayload, sealOidcPayload, storeKey } from '@mcprt/identity';
import type { Keyring } from '@mcprt/keyring';
import type { OidcStoreRepository } from '@mcprt/db';
import { errors, type Adapter, type AdapterPayload } from 'oidc-provider';

export { storeKey };

const CONSUMED_LABEL: Record<string, string> = { AuthorizationCode: 'authorization code', RefreshToken: 'refresh token' };

/** A dynamically registered client not used for this long is gone (its next request: `invalid_client`, so it re-registers). */
export const REGISTRATION_TTL_SECONDS = 30 * 86_400;

/** A claimed assertion id lives this long until the provider saves it with the assertion's own expiry. */
const REPLAY_CLAIM_TTL_SECONDS = 3_600;

/**
 * oidc-provider's storage adapter for one tenant: Postgres rows scoped by tenant, ids hashed,
 * payloads (client secrets, registration tokens, sessions, grants) sealed with the keyring and bound to
 * (tenant, model, hashed id) so a payload copied to another row or tenant does not open. Rows carry
 * their expiry; `sweepExpiredOidcRows` deletes them, and `find` ignores an expired row meanwhile.
 */
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
        accountId: payload.accountId ? storeKey(payload.accountId) : null,
        // The client a grant, code or token belongs to: its rows are found by this when it is deleted.
        clientId: payload.clientId ? storeKey(payload.clientId) : null,
        uid: payload.uid ? storeKey(payload.uid) : null,
        userCode: payload.userCode ? storeKey(payload.userCode) : null,
        payload: sealOidcPayload(keyring, tenantId, this.#model, key, payload),
        expiresAt: expiresIn
          ? new Date(Date.now() + expiresIn * 1000)
          : this.#model === 'Client'
            ? new Date(Date.now() + REGISTRATION_TTL_SECONDS * 1000)
            : null,
      });
    }

    async find(id: string): Promise<AdapterPayload | undefined> {
      if (this.#model === 'ReplayDetection') return this.#claim(id);
      return this.#read(await repo.find(this.#model, storeKey(id)));
    }

    /**
     * oidc-provider's replay check of a client assertion's `jti` (private_key_jwt) is `find`, then
     * `save` when nothing was found: N parallel uses of one assertion would all find nothing. Here
     * `find` claims the id (insert if absent, one statement): exactly one caller gets "not seen" and
     * goes on (its `save` then sets the real expiry); every other one sees the row and is refused.
     */
    async #claim(id: string): Promise<AdapterPayload | undefined> {
      const key = storeKey(id);
      const claimed = await repo.insertIfAbsent({
        model: this.#model,
        id: key,
        grantId: null,
        accountId: null,
        clientId: null,
        uid: null,
        userCode: null,
        payload: sealOidcPayload(keyring, tenantId, this.#model, key, { jti: id }),
        expiresAt: new Date(Date.now() + REPLAY_CLAIM_TTL_SECONDS * 1000),
      });
      return claimed ? undefined : { jti: id };
    }

    async findByUid(uid: string): Promise<AdapterPayload | undefined> {
      return this.#read(await repo.findBy(this.#model, 'uid', storeKey(uid)));
    }

    async findByUserCode(userCode: string): Promise<AdapterPayload | undefined> {
      return this.#read(await repo.findBy(this.#model, 'userCode', storeKey(userCode)));
    }

    /**
     * One-time use under concurrency. oidc-provider reads a code or refresh token (`find`), checks
     * `consumed`, then calls `consume`: N parallel redemptions all read "not consumed". The update is
     * conditional (`consumed_at is null`), so exactly one caller wins; every loser is a replay that
     * raced the winner and is handled as the provider handles a sequential one — the grant and all
     * its codes and tokens are revoked (the winner's new refresh token included, whenever it lands:
     * its grant is gone) and the request fails `invalid_grant`.
     */
    async consume(id: string): Promise<void> {
      const key = storeKey(id);
      if (await repo.consume(this.#model, key)) return;
      await repo.revokeGrantOf(this.#model, key);
      throw new errors.InvalidGrant(`${CONSUMED_LABEL[this.#model] ?? 'grant'} already consumed`);
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
      const payload = openOidcPayload(keyring, tenantId, this.#model, row.id, row.payload) as AdapterPayload;
      if (row.consumedAt) payload.consumed = Math.floor(row.consumedAt.getTime() / 1000);
      return payload;
    }
  };
}
