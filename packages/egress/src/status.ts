import { AppError } from '@mcprt/errors';

/**
 * What an upstream's HTTP status means, for every caller: the tools' Google and GitHub clients, web
 * search, the identity provider's userinfo, GitHub's user endpoint.
 *
 * | status       | outcome        | error code              | retried |
 * |--------------|----------------|-------------------------|---------|
 * | 401          | `unauthorized` | `upstream_unauthorized` | no (the worker refreshes the credential once, then asks for a new sign-in) |
 * | 403          | `forbidden`    | `upstream_forbidden`    | no      |
 * | 404          | `not_found`    | `upstream_not_found`    | no      |
 * | 429          | `rate_limited` | `upstream_rate_limited` | yes, after `Retry-After` |
 * | 5xx          | `failed`       | `upstream_error`        | yes     |
 * | other status | `rejected`     | `upstream_rejected`     | no      |
 *
 * 403 is `forbidden`, not `unauthorized`: the upstream knew who was calling and refused this request
 * (HTTP semantics: "re-authenticating will make no difference"). Google answers a token without the
 * scope 403 `insufficientPermissions`, GitHub a resource the token may not reach 403 "Resource not
 * accessible", both with a valid token. Counted as `unauthorized`, it would make the worker refresh a
 * token that works and then ask the user to sign in again, which changes nothing. The 403s that mean
 * something else (a provider's rate limit, a missing scope) are told apart by the caller, from the
 * body and headers, before this table applies (the tools' upstream client does).
 */
export type UpstreamOutcome = 'unauthorized' | 'forbidden' | 'not_found' | 'rate_limited' | 'failed' | 'rejected';

export function outcomeOf(status: number): UpstreamOutcome {
  if (status === 401) return 'unauthorized';
  if (status === 403) return 'forbidden';
  if (status === 404) return 'not_found';
  if (status === 429) return 'rate_limited';
  if (status >= 500) return 'failed';
  return 'rejected';
}

export interface UpstreamAnswer {
  /** The upstream's own short explanation, added to the message. */
  detail?: string | undefined;
  /** A 429's `Retry-After` header. */
  retryAfter?: string | null | undefined;
  /** A wait the caller worked out itself (GitHub's reset time); wins over `retryAfter`. */
  retryAfterMs?: number | undefined;
  /** What a 404 means, in the user's words ("no message with this id"). */
  notFound?: string | undefined;
}

const ERRORS: Record<UpstreamOutcome, { code: string; retryable: boolean; says(service: string, status: number, a: UpstreamAnswer): string }> = {
  unauthorized: { code: 'upstream_unauthorized', retryable: false, says: (s, n) => `${s} refused the credentials (${n})` },
  forbidden: { code: 'upstream_forbidden', retryable: false, says: (s, n) => `${s} refused access (${n})` },
  not_found: { code: 'upstream_not_found', retryable: false, says: (s, n, a) => `${s}: ${a.notFound ?? 'not found'} (${n})` },
  rate_limited: { code: 'upstream_rate_limited', retryable: true, says: (s, n) => `${s} is rate limiting (${n})` },
  failed: { code: 'upstream_error', retryable: true, says: (s, n) => `${s} failed (${n})` },
  rejected: { code: 'upstream_rejected', retryable: false, says: (s, n) => `${s} rejected the request (${n})` },
};

/**
 * The coded error for an upstream answer with this outcome. A rate limit's wait travels as
 * `details.retryAfterMs` (the worker waits that long before the next attempt).
 */
export function upstreamError(outcome: UpstreamOutcome, service: string, status: number, a: UpstreamAnswer = {}): AppError {
  const e = ERRORS[outcome];
  const wait = outcome === 'rate_limited' ? (a.retryAfterMs ?? retryAfterMs(a.retryAfter)) : undefined;
  const detail = a.detail && outcome !== 'not_found' ? `: ${a.detail}` : '';
  return new AppError('upstream', e.code, `${e.says(service, status, a)}${detail}`, {
    status: 502,
    expose: true,
    retryable: e.retryable,
    ...(wait === undefined ? {} : { details: { retryAfterMs: wait } }),
  });
}

/** Whether an upstream answering `status` is worth asking again later (the table's last column). */
export const retryableStatus = (status: number): boolean => ERRORS[outcomeOf(status)].retryable;

/** Sort an upstream HTTP status into its coded error (the table above). */
export function upstreamStatusError(service: string, status: number, a: UpstreamAnswer = {}): AppError {
  return upstreamError(outcomeOf(status), service, status, a);
}

/** A `Retry-After` header (seconds or an HTTP date) in ms, capped at 10 minutes; undefined if absent or unreadable. */
export function retryAfterMs(header: string | null | undefined, now = Date.now()): number | undefined {
  if (!header) return undefined;
  const secs = /^\d+$/.test(header.trim()) ? Number(header.trim()) * 1000 : Date.parse(header) - now;
  return Number.isFinite(secs) ? Math.min(600_000, Math.max(0, secs)) : undefined;
}
