import { randomBytes } from 'node:crypto';
import { REAUTH_REQUIRED, reconnectUrl, redeemRefreshToken, type RefreshClient } from '@mcprt/providers';
import type { Credential } from '@mcprt/db';
import type { TenantScope } from '@mcprt/calls';
import { AppError, isAppError } from '@mcprt/errors';
import type { WorkerResources } from './resources.js';

/** Refresh when the access token expires within this margin. */
const REFRESH_SKEW_MS = 60_000;
/** The single flight's lock lives this long at most (a holder that dies frees it by expiry). */
const LOCK_MS = 15_000;
/** How long a call waits for another worker's refresh before giving up (retryable). */
const WAIT_MS = 20_000;

const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Why a refresh is due: the token is about to expire, or the provider refused this very token (401). */
export type RefreshReason = { kind: 'expiry' } | { kind: 'rejected'; sealedAccessToken: string };

/** Does `c` still need the refresh `why` asks for? (false: someone refreshed it meanwhile, or it has no expiry) */
function refreshDue(c: Credential, why: RefreshReason, now = Date.now()): boolean {
  if (why.kind === 'rejected') return c.accessTokenSealed === why.sealedAccessToken;
  return c.expiresAt !== null && c.expiresAt.getTime() - now < REFRESH_SKEW_MS;
}

/** The call's failure when only a new sign-in helps: it carries the link where the user reconnects. */
export const reauthError = (provider: string, url: string, cause?: unknown) =>
  new AppError('policy', REAUTH_REQUIRED, `Your ${provider} sign-in is no longer accepted; reconnect at ${url} and call again.`, {
    expose: true,
    retryable: false,
    details: { reconnectUrl: url, provider },
    ...(cause === undefined ? {} : { cause }),
  });

export interface RefreshDeps {
  r: WorkerResources;
  scope: TenantScope;
  tenant: { id: string; slug: string };
  /** Resolves where and as whom to redeem the refresh token (undefined: this tenant cannot refresh it). */
  client: () => Promise<RefreshClient | undefined>;
}

/**
 * A fresh credential for `c`, refreshed under a cluster-wide single flight per credential:
 * `SET lock NX PX` in Redis; the holder re-reads the row (another worker may have refreshed it
 * already), redeems the refresh token with openid-client and stores the new tokens sealed with the
 * optimistic version check; everyone else waits (bounded, polling the lock, not Postgres) and reads
 * the winner's result from Postgres. The refresh token is opened only inside the holder, from the
 * row, and is never in Redis or the job. `invalid_grant` marks the credential `reauth_required`
 * (only if the row is still the one that failed: a new sign-in meanwhile wins) and fails with the
 * reconnect link.
 */
export async function freshCredential(d: RefreshDeps, c: Credential, why: RefreshReason): Promise<Credential> {
  const { r, scope } = d;
  if (!refreshDue(c, why)) return c;
  const key = r.keys.refreshLock(c.id);
  const url = reconnectUrl(r.config.PUBLIC_URL, d.tenant.slug, c.provider);
  const until = Date.now() + WAIT_MS;
  for (let round = 0; ; round++) {
    const token = randomBytes(16).toString('base64url');
    if ((await r.redis.set(key, token, 'PX', LOCK_MS, 'NX')) === 'OK') {
      try {
        return await refreshHolding(d, c.id, why, url);
      } finally {
        await r.redis.eval(RELEASE, 1, key, token).catch(() => undefined);
      }
    }
    // Another worker refreshes: wait for its lock to go, then read its result from Postgres.
    while ((await r.redis.exists(key)) === 1) {
      if (Date.now() > until)
        throw new AppError('unavailable', 'credential_refresh_timeout', 'refreshing your upstream sign-in took too long; please retry', {
          expose: true,
          retryable: true,
        });
      await sleep(25 + Math.random() * 50);
    }
    const now = await scope.credentials.byId(c.id);
    if (!now) throw reauthError(c.provider, url);
    if (now.status !== 'active') throw reauthError(c.provider, url);
    if (!refreshDue(now, why)) return now;
    if (round >= 2)
      throw new AppError('upstream', 'credential_refresh_failed', 'refreshing your upstream sign-in failed; please retry', { expose: true, retryable: true });
  }
}

async function refreshHolding(d: RefreshDeps, id: string, why: RefreshReason, url: string): Promise<Credential> {
  const { r, scope } = d;
  // Re-read under the lock: the previous holder's result is visible now.
  const c = await scope.credentials.byId(id);
  if (!c || c.status !== 'active') throw reauthError(c?.provider ?? 'upstream', url);
  if (!refreshDue(c, why)) return c;
  const refreshToken = r.vault.openRefreshToken(c);
  const counted = (outcome: 'refreshed' | 'failed' | 'reauth_required') => r.metrics.credentialRefreshes.inc({ provider: c.provider, outcome });
  if (!refreshToken) {
    counted('reauth_required');
    await markReauth(d, c);
    throw reauthError(c.provider, url);
  }
  const client = await d.client();
  if (!client)
    throw new AppError('policy', 'credential_expired', `Your ${c.provider} token expired and this tenant cannot refresh it; reconnect at ${url}.`, {
      expose: true,
      details: { reconnectUrl: url, provider: c.provider },
    });
  let t;
  try {
    t = await redeemRefreshToken(client, refreshToken, r.refreshRedeem);
  } catch (e) {
    if (isAppError(e) && e.code === REAUTH_REQUIRED) {
      counted('reauth_required');
      await markReauth(d, c);
      throw reauthError(c.provider, url, e);
    }
    counted('failed');
    throw e;
  }
  counted('refreshed');
  const stored = await r.vault.replaceTokens(scope, c, {
    accessToken: t.accessToken,
    refreshToken: t.refreshToken ?? null,
    expiresAt: t.expiresAt,
    scopes: t.scopes ?? c.scopes,
  });
  if (stored) return stored;
  // Another write (a new sign-in) won the version: use what is stored now if it is usable.
  const now = await scope.credentials.byId(id);
  if (now && now.status === 'active' && !refreshDue(now, { kind: 'expiry' })) return now;
  throw new AppError('upstream', 'credential_refresh_failed', 'your upstream sign-in changed while it was refreshed; please retry', {
    expose: true,
    retryable: true,
  });
}

async function markReauth(d: RefreshDeps, c: Credential): Promise<void> {
  const marked = await d.scope.credentials.updateIfVersion(c.id, c.version, { status: 'reauth_required' });
  if (marked) d.r.log.info({ tenantId: c.tenantId, userId: c.userId, provider: c.provider }, 'credential needs the user to reconnect');
}
