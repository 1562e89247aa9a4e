/**
 * GitHub error bodies (docs/upstream-apis.md §5.6) and rate-limit headers (§5.5).
 * basic-error: `{message, documentation_url, status}` (status a string); validation errors add
 * `errors[{resource?, field?, code, message?}]`. Message texts other than "Not Found" and
 * "Validation Failed" are not in the reference; the double uses GitHub's well-known wording and a
 * rate-limit message containing "rate limit", which is how §5.6 tells a rate-limit 403 from a permission 403.
 */
import type { Failure, Reply } from './http-double.js';
import { ReplyError } from './http-double.js';

export interface GithubFailure extends Failure {
  /** With `status: 403`: the rate-limit flavour (`x-ratelimit-remaining: 0`, "rate limit" message). 429 always is. */
  rateLimited?: boolean;
}

const DOCS = 'https://docs.github.com/rest';

export function basicError(status: number, message: string, headers: Record<string, string> = {}): Reply {
  return { status, headers, body: { message, documentation_url: DOCS, status: String(status) } };
}

export function validationFailed(errors: Array<{ resource?: string; field?: string; code: string; message?: string }>): ReplyError {
  return new ReplyError({ status: 422, body: { message: 'Validation Failed', errors, documentation_url: DOCS, status: '422' } });
}

export const notFound = (): ReplyError => new ReplyError(basicError(404, 'Not Found'));

/**
 * The token lacks the scope this call needs. `X-Accepted-OAuth-Scopes` names what the call accepts and
 * `X-OAuth-Scopes` what the token has (the latter is marked unconfirmed in §5.7; both are GitHub's
 * documented OAuth-app headers, which the brief asks the doubles to carry).
 */
export function missingScope(tokenScopes: string[], accepted: string, status: 403 | 404): ReplyError {
  const headers = { 'x-oauth-scopes': tokenScopes.join(', '), 'x-accepted-oauth-scopes': accepted };
  if (status === 404) return new ReplyError(basicError(404, 'Not Found', headers));
  return new ReplyError(basicError(403, 'Resource not accessible with this token: it lacks the scope this call needs', headers));
}

export type RateResource = 'core' | 'search' | 'code_search';

/** §5.5: 5,000/hour for a user token on core, 10/min for code search, 30/min for other searches. */
const LIMITS: Record<RateResource, { limit: number; windowSeconds: number }> = {
  core: { limit: 5000, windowSeconds: 3600 },
  search: { limit: 30, windowSeconds: 60 },
  code_search: { limit: 10, windowSeconds: 60 },
};

/**
 * Counts requests per user and resource and writes the §5.5 headers. It does not refuse past the
 * limit by itself (a test that wants that scripts `failNext({status: 429})` or `{status: 403, rateLimited: true}`),
 * so `remaining` floors at 0 and the suite never trips over the 10/min code-search limit.
 */
export class RateCounter {
  private readonly windows = new Map<string, { start: number; used: number }>();

  constructor(private readonly now: () => number) {}

  count(user: string, resource: RateResource): Record<string, string> {
    const { limit, windowSeconds } = LIMITS[resource];
    const key = `${user} ${resource}`;
    const nowS = Math.floor(this.now() / 1000);
    let window = this.windows.get(key);
    if (!window || nowS >= window.start + windowSeconds) this.windows.set(key, (window = { start: nowS, used: 0 }));
    window.used += 1;
    return rateHeaders(resource, limit, window.used, window.start + windowSeconds);
  }

  exhausted(user: string, resource: RateResource): Record<string, string> {
    const { limit, windowSeconds } = LIMITS[resource];
    const window = this.windows.get(`${user} ${resource}`);
    const reset = (window?.start ?? Math.floor(this.now() / 1000)) + windowSeconds;
    return rateHeaders(resource, limit, limit, reset);
  }
}

function rateHeaders(resource: RateResource, limit: number, used: number, reset: number): Record<string, string> {
  return {
    'x-ratelimit-limit': String(limit),
    'x-ratelimit-remaining': String(Math.max(0, limit - used)),
    'x-ratelimit-used': String(Math.min(used, limit)),
    'x-ratelimit-reset': String(reset),
    'x-ratelimit-resource': resource,
  };
}

export function resourceOf(path: string): RateResource {
  if (path === '/search/code') return 'code_search';
  if (path.startsWith('/search/')) return 'search';
  return 'core';
}
