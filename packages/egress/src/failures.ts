import { AppError } from '@mcprt/errors';

/** The errors the egress itself raises (an upstream's own answers are sorted in status.ts). */

export const REFUSED = 'egress_refused';

export const refused = (service: string, why: string): AppError => new AppError('upstream', REFUSED, `${service} ${why}`, { retryable: false, expose: true });

export const notPublic = (service: string): AppError => refused(service, 'address is not public');

export const tooLarge = (service: string, cap: number): AppError =>
  new AppError('upstream', 'upstream_response_too_large', `${service} answered with more than ${cap} bytes`, { retryable: false, expose: true });

/** Why a request failed: cancelled by the caller, out of time, or the given cause. All retryable. */
export function fetchFailure(callerSignal: AbortSignal, service: string, signal: AbortSignal, cause: unknown, code: string, what: string): AppError {
  const [c, w] = callerSignal.aborted ? ['cancelled', 'request cancelled'] : signal.aborted ? ['upstream_timeout', 'timed out'] : [code, what];
  return new AppError('upstream', c, `${service} ${w}`, { cause, retryable: true, expose: true });
}
