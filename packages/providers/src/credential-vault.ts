import { randomUUID } from 'node:crypto';
import { open, seal, sealedKid, sealPurposes, type Keyring, type SealContext } from '@mcprt/keyring';
import type { Credential } from '@mcprt/db';
import type { TenantRepositories as TenantScope } from '@mcprt/db';

export interface UpstreamTokens {
  accessToken: string;
  refreshToken?: string | null;
  expiresAt?: Date | null;
  scopes: string[];
}

const ctx = (c: Pick<Credential, 'tenantId' | 'userId' | 'id'>, column: 'access_token' | 'refresh_token'): SealContext =>
  sealPurposes[column].context({ tenantId: c.tenantId, userId: c.userId, credentialId: c.id });

/**
 * The only code that turns upstream tokens into rows and back. Each ciphertext is bound to its
 * (tenant, user, credential, purpose), so a sealed value copied to another row does not open.
 */
export function credentialVault(keyring: Keyring) {
  const sealPair = (ids: Pick<Credential, 'tenantId' | 'userId' | 'id'>, t: UpstreamTokens) => ({
    accessTokenSealed: seal(keyring, t.accessToken, ctx(ids, 'access_token')),
    refreshTokenSealed: t.refreshToken ? seal(keyring, t.refreshToken, ctx(ids, 'refresh_token')) : null,
    keyId: keyring.activeKid,
  });

  return {
    async store(scope: TenantScope, userId: string, provider: string, t: UpstreamTokens): Promise<Credential> {
      const existing = await scope.credentials.get(userId, provider);
      const id = existing?.id ?? randomUUID();
      const ids = { tenantId: scope.tenantId, userId, id };
      const row = await scope.credentials.put(id, { userId, provider, expiresAt: t.expiresAt ?? null, scopes: t.scopes, ...sealPair(ids, t) });
      if (row.id === id) return row;
      // Lost a race with a concurrent first sign-in: the row kept the other id, so seal for that id.
      const fixed = await scope.credentials.updateIfVersion(row.id, row.version, sealPair(row, t));
      return fixed ?? row;
    },
    openAccessToken(c: Pick<Credential, 'tenantId' | 'userId' | 'id'>, sealed: string): string {
      return open(keyring, sealed, ctx(c, 'access_token'));
    },
    openRefreshToken(c: Credential): string | null {
      return c.refreshTokenSealed ? open(keyring, c.refreshTokenSealed, ctx(c, 'refresh_token')) : null;
    },
    /**
     * After a refresh: the new access token (and the rotated refresh token, or the old one re-sealed
     * under the active key when the provider sent none) replace the row's, only if the row is still
     * at `c.version` (optimistic check). Undefined when another write won.
     */
    async replaceTokens(scope: TenantScope, c: Credential, t: UpstreamTokens): Promise<Credential | undefined> {
      const refreshToken = t.refreshToken ?? (c.refreshTokenSealed ? open(keyring, c.refreshTokenSealed, ctx(c, 'refresh_token')) : null);
      return scope.credentials.updateIfVersion(c.id, c.version, { ...sealPair(c, { ...t, refreshToken }), expiresAt: t.expiresAt ?? null, scopes: t.scopes });
    },
    /**
     * Stop using a user's credential at `provider`: `revoked` (the user disconnected it, or an operator
     * revoked it) or `reauth_required` (an operator asks the user to connect again). Its sealed tokens
     * are replaced by empty ones of the same binding (nothing of the old tokens stays usable here), and
     * the worker refuses a credential that is not `active` (the tool answers with a reconnect link).
     * A new connection replaces the row and makes it active again. False: no such credential.
     */
    async setInactive(scope: TenantScope, userId: string, provider: string, status: 'revoked' | 'reauth_required'): Promise<boolean> {
      for (let i = 0; i < 3; i++) {
        const c = await scope.credentials.get(userId, provider);
        if (!c) return false;
        const wiped = status === 'revoked' ? { ...sealPair(c, { accessToken: '', refreshToken: null, scopes: [] }), expiresAt: null, scopes: [] } : {};
        if (await scope.credentials.updateIfVersion(c.id, c.version, { ...wiped, status })) return true;
      }
      return false;
    },
    /** Re-seal a row under the active key (operator `keys rotate`). False when a concurrent write won. */
    async reseal(scope: TenantScope, c: Credential): Promise<boolean> {
      if (c.keyId === keyring.activeKid && sealedKid(c.accessTokenSealed) === keyring.activeKid) return true;
      const access = open(keyring, c.accessTokenSealed, ctx(c, 'access_token'));
      const refresh = c.refreshTokenSealed ? open(keyring, c.refreshTokenSealed, ctx(c, 'refresh_token')) : null;
      const updated = await scope.credentials.updateIfVersion(c.id, c.version, sealPair(c, { accessToken: access, refreshToken: refresh, scopes: c.scopes }));
      return updated !== undefined;
    },
  };
}

export type CredentialVault = ReturnType<typeof credentialVault>;
