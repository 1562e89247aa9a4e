import type { ToolCall } from '@mcprt/calls';
import type { Credential } from '@mcprt/db';
import { AppError, isAppError } from '@mcprt/errors';
import { reconnectUrl } from '@mcprt/providers';
import type { UpstreamCredential } from '@mcprt/tools';
import { freshCredential, reauthError, type RefreshDeps } from '../credential-refresh.js';
import type { Allowed } from './recheck-policy.js';
import type { BoundCall } from './bind-call.js';
import type { CallRun } from './run.js';

/** The user's token for this run, and what to do when the provider refuses it. */
export interface UpstreamToken {
  credential: UpstreamCredential;
  /** The provider refused `credential` (401): a fresh one (single flight; one another worker already made is reused). */
  refreshRejected(): Promise<UpstreamCredential>;
  /** The provider refused the fresh token too: only a new sign-in helps. */
  reauth(cause: unknown): AppError;
}

/**
 * The user's budget at the tool's provider (upstream-budget.ts): undefined when within it (or the tool
 * has no provider), else how long to wait for the window (no attempt spent).
 */
export async function takeUpstreamBudget({ r }: CallRun, call: ToolCall, { tenant, tool }: Allowed): Promise<number | undefined> {
  return tool.upstream ? r.budgets.take(tenant, call.userId, tool.upstream.provider) : undefined;
}

/**
 * The upstream token (undefined for tools without a provider): the job's seal must open with the
 * row's tenant and user and the stored credential's id (the job's ids are only compared), so it fails
 * loudly if the ciphertext was altered, sealed for anyone else, or under an unknown key. A credential
 * refreshed since enqueue (or due now) is taken from the row (credential-refresh.ts).
 */
export async function upstreamToken(run: CallRun, { call, stored }: BoundCall, { tenant, tool }: Allowed): Promise<UpstreamToken | undefined> {
  const { r, job } = run;
  if (!tool.upstream) return undefined;
  const provider = tool.upstream.provider;
  const c = job.credential;
  if (!c || !stored) throw new AppError('policy', 'credential_missing', `no ${provider} credential was sent with this call`);
  let accessToken = r.vault.openAccessToken({ tenantId: call.tenantId, userId: call.userId, id: stored.id }, c.sealedAccessToken);
  const deps: RefreshDeps = { r, scope: run.scope, tenant, client: () => r.refreshClient(tenant, provider) };
  const current = await freshCredential(deps, stored, { kind: 'expiry' });
  if (current.accessTokenSealed !== c.sealedAccessToken) accessToken = r.vault.openAccessToken(current, current.accessTokenSealed);
  const presented = (cur: Credential, token: string): UpstreamCredential => ({ provider, accessToken: token, scopes: cur.scopes, expiresAt: cur.expiresAt });
  return {
    credential: presented(current, accessToken),
    async refreshRejected() {
      const refreshed = await freshCredential(deps, current, { kind: 'rejected', sealedAccessToken: current.accessTokenSealed });
      return presented(refreshed, r.vault.openAccessToken(refreshed, refreshed.accessTokenSealed));
    },
    reauth: (cause) => reauthError(provider, reconnectUrl(r.config.PUBLIC_URL, tenant.slug, provider), cause),
  };
}

/**
 * Run with the token. The provider refused a token we thought valid (revoked early, clock skew):
 * refresh once, then run once more; refused again right after a refresh: ask the user to reconnect.
 */
export async function withTokenRetry<T>(token: UpstreamToken | undefined, go: (credential: UpstreamCredential | undefined) => Promise<T>): Promise<T> {
  try {
    return await go(token?.credential);
  } catch (e) {
    if (!token || !isUnauthorized(e)) throw e;
    const refreshed = await token.refreshRejected();
    try {
      return await go(refreshed);
    } catch (again) {
      throw isUnauthorized(again) ? token.reauth(again) : again;
    }
  }
}

const isUnauthorized = (e: unknown) => isAppError(e) && e.code === 'upstream_unauthorized';
