import { REAUTH_REQUIRED } from '@mcprt/providers';
import type { AppError } from '@mcprt/errors';

/**
 * The one place that decides what happens to a call after its run threw. Every
 * class ends in an audit row (`tool_call.failed` with the code as reason) except `wait`, which is
 * not an outcome: the job goes back to the delayed set and runs again later.
 *
 * | class       | codes (examples)                                                    | fate                                   |
 * |-------------|---------------------------------------------------------------------|----------------------------------------|
 * | reauth      | `reauth_required`, `credential_expired`                             | fail now, reconnect link, no retry     |
 * | policy      | any `policy` kind: `tool_disabled`, `credential_unavailable`, …     | fail now (deny), no retry              |
 * | rate_limited| `upstream_rate_limited` (429)                                       | wait Retry-After, no attempt spent     |
 * | cancelled   | the run's signal aborted (shutdown, cancellation)                   | retry elsewhere while attempts last    |
 * | timeout     | `tool_timeout`                                                      | retry with backoff while attempts last |
 * | transient   | retryable errors: `upstream_error` (5xx), `credential_refresh_*`, … | retry with backoff + jitter            |
 * | permanent   | everything else: `upstream_rejected`, `invalid_arguments`, …        | fail now                               |
 *
 * Retries are BullMQ's (exponential backoff with jitter, JOB_ATTEMPTS); a retryable class with no
 * attempt left fails with its own code.
 */
export type FateClass = 'reauth' | 'policy' | 'rate_limited' | 'cancelled' | 'timeout' | 'transient' | 'permanent';

export type Fate = { do: 'wait'; delayMs: number; class: 'rate_limited' } | { do: 'retry'; class: FateClass } | { do: 'fail'; class: FateClass };

function classify(err: AppError, aborted: boolean): FateClass {
  if (err.code === REAUTH_REQUIRED || err.code === 'credential_expired') return 'reauth';
  if (err.kind === 'policy') return 'policy';
  if (err.code === 'upstream_rate_limited') return 'rate_limited';
  if (aborted) return 'cancelled';
  if (err.code === 'tool_timeout') return 'timeout';
  return err.retryable ? 'transient' : 'permanent';
}

export function decideFate(err: AppError, attempt: { number: number; max: number; aborted: boolean }): Fate {
  const c = classify(err, attempt.aborted);
  if (c === 'rate_limited') return { do: 'wait', delayMs: typeof err.details?.retryAfterMs === 'number' ? err.details.retryAfterMs : 1_000, class: c };
  const retryable = c === 'cancelled' || c === 'timeout' || c === 'transient';
  return retryable && attempt.number < attempt.max ? { do: 'retry', class: c } : { do: 'fail', class: c };
}
