/**
 * The Google JSON error format shared by Gmail and Calendar (docs/upstream-apis.md §2.4, §3.3):
 * `{error:{code, message, status, errors:[{domain, reason, message, location?, locationType?}], details?}}`.
 * `details[]` (ErrorInfo) is written only where the reference shows it: ACCESS_TOKEN_SCOPE_INSUFFICIENT.
 */
import type { AuthResult, DoubleRequestRecord, Failure, Reply } from './http-double.js';
import { ReplyError } from './http-double.js';

/** A scripted failure for a Google double: `reason` picks the `errors[].reason` (e.g. `rateLimitExceeded` on a 403). */
export interface GoogleFailure extends Failure {
  reason?: string;
}

export interface GoogleErrorSpec {
  code: number;
  message: string;
  reason: string;
  domain?: string;
  location?: string;
  locationType?: 'header' | 'parameter';
  /** `ACCESS_TOKEN_SCOPE_INSUFFICIENT` for missing scopes (§2.4). */
  errorInfoReason?: string;
}

/**
 * RPC `status` per HTTP code (§2.4 names UNAUTHENTICATED, PERMISSION_DENIED, RESOURCE_EXHAUSTED; the
 * exact value per error is unconfirmed there, the rest follow google.rpc.Code's usual mapping).
 */
const RPC_STATUS: Record<number, string> = {
  400: 'INVALID_ARGUMENT',
  401: 'UNAUTHENTICATED',
  403: 'PERMISSION_DENIED',
  404: 'NOT_FOUND',
  410: 'FAILED_PRECONDITION',
  429: 'RESOURCE_EXHAUSTED',
  500: 'INTERNAL',
  502: 'UNAVAILABLE',
  503: 'UNAVAILABLE',
  504: 'DEADLINE_EXCEEDED',
};

export function googleError(spec: GoogleErrorSpec): Reply {
  const item: Record<string, string> = { domain: spec.domain ?? 'global', reason: spec.reason, message: spec.message };
  if (spec.location) item['location'] = spec.location;
  if (spec.locationType) item['locationType'] = spec.locationType;
  const error: Record<string, unknown> = {
    code: spec.code,
    message: spec.message,
    status: RPC_STATUS[spec.code] ?? 'UNKNOWN',
    errors: [item],
  };
  if (spec.errorInfoReason) {
    error['details'] = [{ '@type': 'type.googleapis.com/google.rpc.ErrorInfo', reason: spec.errorInfoReason, domain: 'googleapis.com' }];
  }
  return { status: spec.code, body: { error } };
}

const invalidCredentialsSpec: Omit<GoogleErrorSpec, 'code'> = {
  reason: 'authError',
  message: 'Invalid Credentials',
  location: 'Authorization',
  locationType: 'header',
};

/** 401 `authError` "Invalid Credentials", location `Authorization` (§2.4, §3.3). */
const invalidCredentials = (): Reply => googleError({ code: 401, ...invalidCredentialsSpec });

/** 403 `insufficientPermissions` + ErrorInfo `ACCESS_TOKEN_SCOPE_INSUFFICIENT` (§2.4). */
export const insufficientScopes = (): Reply =>
  googleError({
    code: 403,
    reason: 'insufficientPermissions',
    message: 'Request had insufficient authentication scopes.',
    errorInfoReason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
  });

/** 404 `notFound` (§3.3; the reason string is unconfirmed there, Gmail's §2.4 lists no 404 row). */
export const notFound = (message = 'Requested entity was not found.'): Reply => googleError({ code: 404, reason: 'notFound', message });

/** 400 `badRequest` (§2.4) naming the offending parameter. */
export const badRequest = (message: string, parameter?: string): Reply =>
  googleError({
    code: 400,
    reason: 'badRequest',
    message,
    ...(parameter ? { location: parameter, locationType: 'parameter' as const } : {}),
  });

/** Throws unless the token is live and holds one of `anyOf` (§2.4: 401 authError, 403 insufficientPermissions). */
export function requireScope<D>(auth: AuthResult<D>, anyOf: readonly string[]): D {
  if (!auth.ok) throw new ReplyError(invalidCredentials());
  if (!auth.grant.scopes.some((s) => anyOf.includes(s))) throw new ReplyError(insufficientScopes());
  return auth.grant.account.data;
}

/** The error body for a scripted `status`, in the Google format, with the §2.4/§3.3 reason for that status. */
export function googleFailureReply(
  failure: GoogleFailure & { status: number },
  _req: DoubleRequestRecord,
  _auth: AuthResult<unknown>,
  rateLimitReason: string,
): Reply {
  const defaults: Record<number, Omit<GoogleErrorSpec, 'code'>> = {
    400: { reason: 'badRequest', message: 'Bad Request' },
    401: invalidCredentialsSpec,
    403: {
      reason: 'insufficientPermissions',
      message: 'Request had insufficient authentication scopes.',
      errorInfoReason: 'ACCESS_TOKEN_SCOPE_INSUFFICIENT',
    },
    404: { reason: 'notFound', message: 'Requested entity was not found.' },
    429: { reason: rateLimitReason, message: 'Too many requests', domain: 'usageLimits' },
  };
  const base = defaults[failure.status] ?? { reason: 'backendError', message: 'Backend Error' };
  const spec: GoogleErrorSpec = { ...base, code: failure.status };
  if (failure.reason !== undefined && failure.reason !== base.reason) {
    // A different reason (e.g. a 403 `rateLimitExceeded` quota error) carries none of the scope details.
    spec.reason = failure.reason;
    delete spec.errorInfoReason;
    if (/RateLimitExceeded|LimitExceeded/i.test(failure.reason)) spec.domain = 'usageLimits';
  }
  if (failure.message !== undefined) spec.message = failure.message;
  return googleError(spec);
}

/**
 * A positive integer query parameter. Above `max` it is clamped: §2.1, §3.1 and §3.2 give the maximum
 * but no error for exceeding it. Not a positive integer → 400 badRequest on that parameter.
 */
export function intParam(req: DoubleRequestRecord, name: string, fallback: number, max: number): number {
  const raw = req.query.get(name);
  if (raw === null) return fallback;
  if (!/^\d+$/.test(raw) || Number(raw) < 1) throw new ReplyError(badRequest(`Invalid value for ${name}: ${raw}`, name));
  return Math.min(Number(raw), max);
}

/** A path segment, decoded; a malformed percent-escape is a 404 `notFound`, not a crash. */
export function pathSegment(segment: string): string {
  try {
    return decodeURIComponent(segment);
  } catch {
    throw new ReplyError(notFound());
  }
}
