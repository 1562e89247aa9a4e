import { AppError } from '@mcprt/errors';
import { z } from 'zod';
import { retryAfterMs, upstreamError, upstreamStatusError, type Egress } from '@mcprt/egress';

/**
 * The authenticated upstream client: the one place a tool reaches Google or GitHub
 * with the user's own token. It
 *
 * - adds `Authorization: Bearer <the user's token>` itself, only ever to the configured base URL of
 *   the API named (an absolute URL, e.g. a `Link` header's next page, must be on that same origin),
 *   and follows no redirect to another origin (the egress drops credentials there anyway; here the
 *   request is refused outright);
 * - goes through the hardened egress (connect-time address checks, capped bodies, one deadline);
 * - validates every JSON answer with the caller's zod schema;
 * - maps every failure (below), so tools only handle their success shape. What a status means is
 *   @mcprt/egress's one status table; this client only tells apart, from the body and headers, the
 *   403s that are a provider's rate limit or a missing scope.
 *
 * | upstream answer                                         | error code (kind)                     | what happens next (worker, fate.ts)                 |
 * |---------------------------------------------------------|---------------------------------------|-----------------------------------------------------|
 * | 401                                                     | `upstream_unauthorized` (upstream)    | refresh once, run once more; else `reauth_required` |
 * | 403 missing scope (Google `insufficientPermissions`, GitHub `X-Accepted-OAuth-Scopes` not granted) | `upstream_scope_missing` (policy) | fail now, with the upgrade link |
 * | 403/429 rate limit (Google `rateLimitExceeded`/`userRateLimitExceeded`, GitHub `x-ratelimit-remaining: 0` or "rate limit") | `upstream_rate_limited` | this user waits at this provider for Retry-After (or GitHub's reset), no attempt spent |
 * | other 403                                               | `upstream_forbidden`                  | fail now                                            |
 * | 404                                                     | `upstream_not_found`                  | fail now, with the tool's own wording               |
 * | 400 / 422 and other 4xx                                 | `upstream_rejected`                   | fail now, with the upstream's short message         |
 * | 5xx                                                     | `upstream_error`                      | retry with backoff                                  |
 * | network error, timeout                                  | `upstream_unreachable` / `upstream_timeout` (egress) | retry with backoff                   |
 * | body over the cap                                       | `upstream_response_too_large` (egress)| fail now                                            |
 * | invalid JSON                                            | `upstream_bad_response` (egress)      | retry with backoff                                  |
 * | JSON of another shape                                   | `upstream_bad_response`               | fail now                                            |
 * | redirect to another origin                              | `egress_refused`                      | fail now                                            |
 */

/** The upstream APIs a tool may name, and the provider whose token each takes. */
export const UPSTREAM_APIS = { gmail: 'google', calendar: 'google', github: 'github' } as const;
export type UpstreamApi = keyof typeof UPSTREAM_APIS;
export type ApiProvider = (typeof UPSTREAM_APIS)[UpstreamApi];
export type UpstreamBases = Record<UpstreamApi, string>;

const SERVICE: Record<UpstreamApi, string> = { gmail: 'Gmail', calendar: 'Google Calendar', github: 'GitHub' };

export type QueryValue = string | number | boolean | undefined | readonly string[];

export interface UpstreamRequest {
  /** A path starting with `/` under the API's base URL, or an absolute URL on the base URL's origin. */
  path: string;
  query?: Record<string, QueryValue>;
  accept?: string;
  /** Largest body accepted (default: the deployment's UPSTREAM_MAX_BODY_BYTES). */
  maxBodyBytes?: number;
  /** What a 404 means, in the user's words ("no message with this id"). */
  notFound?: string;
}

export interface UpstreamResponse<T> {
  data: T;
  headers: Headers;
}

export interface UpstreamClient {
  provider: ApiProvider;
  /** GET a JSON resource and validate it; every failure arrives as a mapped AppError. */
  json<S extends z.ZodType>(api: UpstreamApi, req: UpstreamRequest, schema: S): Promise<UpstreamResponse<z.output<S>>>;
}

export interface UpstreamClientOptions {
  egress: Egress;
  bases: UpstreamBases;
  provider: ApiProvider;
  accessToken: string;
  /** The upstream scopes the tool declares: what the upgrade link asks for when the provider does not say. */
  toolScopes: readonly string[];
  /** The upgrade link for these scopes. */
  upgradeUrl(scopes: readonly string[]): string;
  signal: AbortSignal;
  timeoutMs: number;
  maxBodyBytes: number;
}

export function createUpstreamClient(o: UpstreamClientOptions): UpstreamClient {
  return {
    provider: o.provider,
    async json(api, req, schema) {
      if (UPSTREAM_APIS[api] !== o.provider) throw new AppError('internal', 'upstream_misuse', `a ${o.provider} token cannot be sent to ${api}`);
      const service = SERVICE[api];
      const url = targetUrl(o.bases[api], req, service);
      const res = await o.egress.request(url, {
        headers: {
          authorization: `Bearer ${o.accessToken}`,
          accept: req.accept ?? (api === 'github' ? 'application/vnd.github+json' : 'application/json'),
          ...(api === 'github' ? { 'x-github-api-version': '2022-11-28', 'user-agent': 'mcprt' } : {}),
        },
        signal: o.signal,
        timeoutMs: o.timeoutMs,
        maxBodyBytes: req.maxBodyBytes ?? o.maxBodyBytes,
        sameOriginRedirectsOnly: true,
        service,
      });
      if (res.status !== 200) {
        // Error bodies are small; an unreadable one is no reason to lose the status.
        const body = await res.json().catch(() => undefined);
        throw upstreamFailure({ api, service, status: res.status, headers: res.headers, body, notFound: req.notFound, ...o });
      }
      const parsed = schema.safeParse(await res.json());
      if (!parsed.success) {
        const where = parsed.error.issues[0]?.path.join('.') || '(root)';
        throw new AppError('upstream', 'upstream_bad_response', `${service} returned an unexpected response shape (at ${where})`, {
          expose: true,
          retryable: false,
        });
      }
      return { data: parsed.data as z.output<typeof schema>, headers: res.headers };
    },
  };
}

/** The request URL: under the base, or an absolute URL on the base's origin (never anywhere else). */
function targetUrl(base: string, req: UpstreamRequest, service: string): string {
  const root = new URL(base);
  let url: URL;
  if (req.path.startsWith('/')) url = new URL(root.pathname.replace(/\/+$/, '') + req.path, root.origin);
  else {
    try {
      url = new URL(req.path);
    } catch {
      throw new AppError('upstream', 'upstream_bad_response', `${service} named an invalid URL`, { expose: true });
    }
    // A `Link` header (or any URL an answer carries) pointing elsewhere never receives the token.
    if (url.origin !== root.origin)
      throw new AppError('upstream', 'egress_refused', `${service} pointed to another origin (${url.origin}); the request was not sent`, { expose: true });
  }
  for (const [k, v] of Object.entries(req.query ?? {})) {
    if (v === undefined) continue;
    if (Array.isArray(v)) for (const one of v as readonly string[]) url.searchParams.append(k, one);
    else url.searchParams.set(k, String(v));
  }
  return url.toString();
}

// Error bodies (Google's `error.errors[].reason` and `error.details[]`, GitHub's `message` and
// `errors[]`): only the fields the mapping reads.
const googleError = z.looseObject({
  error: z.looseObject({
    message: z.string().optional(),
    errors: z.array(z.looseObject({ reason: z.string().optional(), domain: z.string().optional() })).optional(),
    details: z.array(z.looseObject({ '@type': z.string().optional(), reason: z.string().optional() })).optional(),
  }),
});
const githubError = z.looseObject({
  message: z.string().optional(),
  errors: z.array(z.looseObject({ code: z.string().optional(), field: z.string().optional(), message: z.string().optional() })).optional(),
});

const GOOGLE_RATE_REASONS = new Set(['rateLimitExceeded', 'userRateLimitExceeded']);

interface Failure {
  api: UpstreamApi;
  service: string;
  status: number;
  headers: Headers;
  body: unknown;
  notFound: string | undefined;
  toolScopes: readonly string[];
  upgradeUrl(scopes: readonly string[]): string;
  provider: ApiProvider;
}

/** An upstream's failed answer in the table at the top of this file. Exported for unit tests. */
export function upstreamFailure(f: Failure): AppError {
  const { service, status } = f;
  const g = f.api !== 'github' ? googleError.safeParse(f.body) : undefined;
  const gh = f.api === 'github' ? githubError.safeParse(f.body) : undefined;
  const reasons = g?.success ? [...(g.data.error.errors ?? []).map((e) => e.reason), ...(g.data.error.details ?? []).map((d) => d.reason)] : [];
  const message = short(g?.success ? g.data.error.message : gh?.success ? gh.data.message : undefined);
  if (status === 429 || status === 403) {
    const special = f.api === 'github' ? githubLimit(f, message) : googleLimit(f, reasons);
    if (special) return special;
  }
  if (status === 401 || status === 404 || status >= 500) return upstreamStatusError(service, status, { notFound: f.notFound });
  const detail = gh?.success ? gh.data.errors?.map((e) => short(e.message) ?? `${e.field ?? ''} ${e.code ?? ''}`.trim()).join('; ') || message : message;
  return upstreamStatusError(service, status, { detail });
}

/** GitHub's 403 or 429 that is a rate limit (by header or wording) or a missing scope; undefined for a plain 403. */
function githubLimit(f: Failure, message: string | undefined): AppError | undefined {
  const { headers, status } = f;
  const retryAfter = retryAfterMs(headers.get('retry-after'));
  if (status === 429 || headers.get('x-ratelimit-remaining') === '0' || retryAfter !== undefined || /rate limit/i.test(message ?? '')) {
    const reset = Number(headers.get('x-ratelimit-reset'));
    const untilReset = Number.isFinite(reset) && reset > 0 ? Math.min(600_000, Math.max(0, reset * 1000 - Date.now())) : undefined;
    return upstreamError('rate_limited', f.service, status, { retryAfterMs: retryAfter ?? untilReset });
  }
  const accepted = splitScopes(headers.get('x-accepted-oauth-scopes'));
  const granted = splitScopes(headers.get('x-oauth-scopes'));
  // GitHub names what the endpoint accepts; any one of them would do. Missing if none is granted.
  if (accepted.length > 0 && !accepted.some((s) => granted.includes(s))) return scopeMissing(f, accepted.slice(0, 1));
  return undefined;
}

/** Google's 403 or 429 that is a rate limit or a missing scope (by the reasons in its body); undefined for a plain 403. */
function googleLimit(f: Failure, reasons: (string | undefined)[]): AppError | undefined {
  if (f.status === 429 || reasons.some((r) => r !== undefined && GOOGLE_RATE_REASONS.has(r)))
    return upstreamError('rate_limited', f.service, f.status, { retryAfter: f.headers.get('retry-after') });
  if (reasons.includes('insufficientPermissions') || reasons.includes('ACCESS_TOKEN_SCOPE_INSUFFICIENT')) return scopeMissing(f, f.toolScopes);
  return undefined;
}

function scopeMissing(f: Failure, scopes: readonly string[]): AppError {
  const url = f.upgradeUrl(scopes);
  return new AppError(
    'policy',
    'upstream_scope_missing',
    `Your ${f.provider} sign-in does not allow this: ${f.service} needs ${scopes.join(' ')}. Grant it at ${url} and call again.`,
    { expose: true, retryable: false, details: { upgradeUrl: url, provider: f.provider, scopes: [...scopes] } },
  );
}

const splitScopes = (h: string | null): string[] =>
  (h ?? '')
    .split(',')
    .map((s) => s.trim())
    .filter(Boolean);

/** Upstream messages reach the user: one line, bounded. */
function short(m: string | undefined): string | undefined {
  if (!m) return undefined;
  const one = m.replace(/\s+/g, ' ').trim();
  return one.length > 200 ? `${one.slice(0, 199)}…` : one;
}

/**
 * Run `fn` over `items` with at most `limit` at once, in order of the results; stops starting new
 * ones once `signal` fires (the call's deadline or abort) and rejects with the first failure.
 */
export async function mapBounded<T, R>(items: readonly T[], limit: number, signal: AbortSignal, fn: (item: T, index: number) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      if (signal.aborted) throw new AppError('upstream', 'cancelled', 'the call was stopped', { cause: signal.reason, retryable: true, expose: true });
      const i = next++;
      try {
        out[i] = await fn(items[i]!, i);
      } catch (e) {
        failed = true;
        throw e;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The client for a tool's run, or undefined when the tool has no Google/GitHub upstream or no credential. */
export function upstreamClientFor(
  services: {
    egress: Egress;
    upstream: { bases: UpstreamBases; timeoutMs: number; maxBodyBytes: number };
    reconnectUrl(slug: string, provider: string, scopes?: readonly string[]): string;
  },
  upstream: { provider: string; scopes: readonly string[] } | undefined,
  credential: { accessToken: string } | undefined,
  tenantSlug: string,
  signal: AbortSignal,
): UpstreamClient | undefined {
  if (!upstream || !credential || (upstream.provider !== 'google' && upstream.provider !== 'github')) return undefined;
  const provider = upstream.provider;
  return createUpstreamClient({
    egress: services.egress,
    bases: services.upstream.bases,
    provider,
    accessToken: credential.accessToken,
    toolScopes: upstream.scopes,
    upgradeUrl: (scopes) => services.reconnectUrl(tenantSlug, provider, scopes),
    signal,
    timeoutMs: services.upstream.timeoutMs,
    maxBodyBytes: services.upstream.maxBodyBytes,
  });
}
