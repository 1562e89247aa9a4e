import { AppError, isAppError } from '@mcprt/errors';
import { egressFetch, type Egress } from '@mcprt/egress';
import { createRemoteJWKSet, customFetch as joseCustomFetch, errors as joseErrors, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';

export interface IssuerMetadata {
  issuer: string;
  jwksUri: string;
  userinfoEndpoint: string | undefined;
  tokenEndpoint: string | undefined;
  /** `id_token_signing_alg_values_supported` (openid-client checks an ID token a refresh returns against it). */
  idTokenSigningAlgs: string[] | undefined;
}

/** Where an identity provider outage is reported: once when it starts (warn), once when it ends (info). */
export interface OutageLog {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

export interface IssuerDirectoryOptions {
  /** Allow `http://` issuers (tests and the development IdP only). */
  allowInsecure: boolean;
  /** Discovery and JWKS requests go through this egress: address rules, redirects, body cap. */
  egress: Egress;
  /** How long discovery results are kept; JWKS has its own cache and refetches on an unknown `kid`. */
  ttlMs?: number;
  timeoutMs?: number;
  /** Minimum time between JWKS fetches triggered by an unknown `kid` (key rotation at the IdP). */
  jwksCooldownMs?: number;
  /** How long a failed discovery or JWKS fetch is remembered: look-ups in that window fail at once, without a request. */
  failureTtlMs?: number;
  log?: OutageLog;
}

interface Entry {
  expires: number;
  pending: Promise<{ meta: IssuerMetadata; jwks: JWTVerifyGetKey }>;
}

const IDP_UNAVAILABLE = 'idp_unavailable';
/** Largest discovery document or key set accepted. */
const MAX_DOCUMENT_BYTES = 512 * 1024;

/**
 * The error for "this tenant's identity provider cannot be reached now": retryable, 503, and
 * `retryAt` (epoch ms) says when the directory will try again.
 */
export function idpUnavailable(e: unknown): (AppError & { details: { retryAt: number } }) | undefined {
  for (let cur = e, depth = 0; cur && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (isAppError(cur) && cur.code === IDP_UNAVAILABLE && typeof cur.details?.retryAt === 'number') return cur as AppError & { details: { retryAt: number } };
  }
  return undefined;
}

/** Seconds for a `Retry-After` header: until the directory tries the issuer again, at least 1. */
export function retryAfterSeconds(err: { details: { retryAt: number } }, now = Date.now()): number {
  return Math.max(1, Math.ceil((err.details.retryAt - now) / 1000));
}

/**
 * Discovery (openid-client) and JWKS (jose) per issuer, cached and shared by every tenant that uses
 * the issuer, both fetched through the egress. Concurrent look-ups of one issuer share one request.
 * A failure (the IdP is down, answers garbage, its key set cannot be fetched) is remembered for
 * `failureTtlMs`: a flood of tokens for a dead issuer costs one outbound request per window, answers
 * a retryable `idp_unavailable`, and the outage is logged once, not per request.
 */
export class IssuerDirectory {
  // Bounded: issuers come from tenant rows (never from a request), but a cache has a limit all the same.
  readonly #entries = new LRUCache<string, Entry>({ max: 1_000 });
  /** Issuers currently failing, and since when (for one warning per outage). */
  readonly #outages = new LRUCache<string, number>({ max: 1_000 });
  readonly #opts: Required<Omit<IssuerDirectoryOptions, 'log'>> & { log: OutageLog | undefined };
  readonly #fetch: ReturnType<typeof egressFetch>;

  constructor(opts: IssuerDirectoryOptions) {
    this.#opts = { ttlMs: 3_600_000, timeoutMs: 5_000, jwksCooldownMs: 30_000, failureTtlMs: 5_000, log: undefined, ...opts };
    this.#fetch = egressFetch(opts.egress, 'the identity provider', { timeoutMs: this.#opts.timeoutMs, maxBodyBytes: MAX_DOCUMENT_BYTES });
  }

  async metadata(issuer: string): Promise<IssuerMetadata> {
    return (await this.#get(issuer)).meta;
  }

  async jwks(issuer: string): Promise<JWTVerifyGetKey> {
    return (await this.#get(issuer)).jwks;
  }

  #get(issuer: string) {
    const now = Date.now();
    const hit = this.#entries.get(issuer);
    if (hit && now < hit.expires) return hit.pending;
    const entry: Entry = {
      expires: now + this.#opts.ttlMs,
      pending: this.#discover(issuer).then(
        (found) => {
          this.#recovered(issuer);
          return found;
        },
        (cause: unknown) => {
          // A configuration error of ours (an http:// issuer) is not an outage; everything else is the IdP's.
          const err = isAppError(cause) && cause.code === 'issuer_insecure' ? cause : this.#unavailable(issuer, cause);
          entry.expires = Date.now() + this.#opts.failureTtlMs;
          throw err;
        },
      ),
    };
    entry.pending.catch(() => undefined);
    this.#entries.set(issuer, entry);
    return entry.pending;
  }

  async #discover(issuer: string) {
    const url = new URL(issuer);
    if (url.protocol !== 'https:' && !this.#opts.allowInsecure) {
      throw new AppError('internal', 'issuer_insecure', `issuer ${issuer} is not https`, { expose: false });
    }
    // The client id is irrelevant for discovery; we use the configuration only for server metadata.
    const config = await oidc.discovery(url, 'mcprt-resource-server', undefined, undefined, {
      execute: this.#opts.allowInsecure ? [oidc.allowInsecureRequests] : [],
      timeout: this.#opts.timeoutMs / 1000,
      [oidc.customFetch]: this.#fetch,
    });
    const m = config.serverMetadata();
    if (!m.jwks_uri) throw new AppError('internal', 'issuer_no_jwks', `issuer ${issuer} publishes no jwks_uri`, { expose: false });
    const meta: IssuerMetadata = {
      issuer: m.issuer,
      jwksUri: m.jwks_uri,
      userinfoEndpoint: m.userinfo_endpoint,
      tokenEndpoint: m.token_endpoint,
      idTokenSigningAlgs: m.id_token_signing_alg_values_supported,
    };
    // jose refetches the key set when a token names an unknown kid (key rotation), at most once per cooldown.
    const remote = createRemoteJWKSet(new URL(m.jwks_uri), {
      cooldownDuration: this.#opts.jwksCooldownMs,
      cacheMaxAge: 600_000,
      timeoutDuration: this.#opts.timeoutMs,
      [joseCustomFetch]: this.#fetch,
    });
    const jwks: JWTVerifyGetKey = async (header, token) => {
      try {
        const key = await remote(header, token);
        this.#recovered(issuer);
        return key;
      } catch (e) {
        if (!keySetUnreachable(e)) throw e;
        // The key set cannot be fetched: the whole issuer is out for a failure window (rediscovered after).
        const err = this.#unavailable(issuer, e);
        const pending = Promise.reject(err);
        pending.catch(() => undefined);
        this.#entries.set(issuer, { expires: Date.now() + this.#opts.failureTtlMs, pending });
        throw err;
      }
    };
    return { meta, jwks };
  }

  #unavailable(issuer: string, cause: unknown): AppError {
    if (!this.#outages.has(issuer)) {
      this.#outages.set(issuer, Date.now());
      this.#opts.log?.warn(
        { issuer, reason: describe(cause), retryInMs: this.#opts.failureTtlMs },
        'identity provider unreachable: its tokens are answered 503 until it recovers',
      );
    }
    return new AppError('unavailable', IDP_UNAVAILABLE, "the tenant's identity provider cannot be reached; retry later", {
      cause,
      retryable: true,
      expose: true,
      details: { retryAt: Date.now() + this.#opts.failureTtlMs },
    });
  }

  #recovered(issuer: string) {
    const since = this.#outages.get(issuer);
    if (since === undefined) return;
    this.#outages.delete(issuer);
    this.#opts.log?.info({ issuer, downMs: Date.now() - since }, 'identity provider reachable again');
  }
}

/** jose's errors for "the key set could not be fetched or read", as opposed to "no key fits this token". */
function keySetUnreachable(e: unknown): boolean {
  if (!(e instanceof joseErrors.JOSEError)) return true;
  return e instanceof joseErrors.JWKSTimeout || e instanceof joseErrors.JWKSInvalid || e.code === 'ERR_JOSE_GENERIC';
}

/** One line about why, without a stack: the messages of the error and its causes. */
function describe(e: unknown): string {
  const parts: string[] = [];
  for (let cur = e, depth = 0; cur && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    parts.push(cur instanceof Error ? cur.message : String(cur));
  }
  return parts.join(': ');
}
