import { AppError } from '@mcprt/errors';
import { createRemoteJWKSet, type JWTVerifyGetKey } from 'jose';
import { LRUCache } from 'lru-cache';
import * as oidc from 'openid-client';

export interface IssuerMetadata {
  issuer: string;
  jwksUri: string;
  userinfoEndpoint: string | undefined;
  tokenEndpoint: string | undefined;
}

export interface IssuerDirectoryOptions {
  /** Allow `http://` issuers (tests and the development IdP only). */
  allowInsecure: boolean;
  /** How long discovery results are kept; JWKS has its own cache and refetches on an unknown `kid`. */
  ttlMs?: number;
  timeoutMs?: number;
  /** Minimum time between JWKS fetches triggered by an unknown `kid` (key rotation at the IdP). */
  jwksCooldownMs?: number;
}

interface Entry {
  at: number;
  pending: Promise<{ meta: IssuerMetadata; jwks: JWTVerifyGetKey }>;
}

/**
 * Discovery (openid-client) and JWKS (jose) per issuer, cached and shared by every tenant that uses
 * the issuer. Concurrent look-ups of one issuer share one request; a failed look-up is not cached.
 */
export class IssuerDirectory {
  // Bounded: issuers come from tenant rows (never from a request), but a cache has a limit all the same.
  readonly #entries = new LRUCache<string, Entry>({ max: 1_000 });
  readonly #opts: Required<IssuerDirectoryOptions>;

  constructor(opts: IssuerDirectoryOptions) {
    this.#opts = { ttlMs: 3_600_000, timeoutMs: 5_000, jwksCooldownMs: 30_000, ...opts };
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
    if (hit && now - hit.at < this.#opts.ttlMs) return hit.pending;
    const pending = this.#discover(issuer);
    this.#entries.set(issuer, { at: now, pending });
    pending.catch(() => this.#entries.delete(issuer));
    return pending;
  }

  async #discover(issuer: string) {
    const url = new URL(issuer);
    if (url.protocol !== 'https:' && !this.#opts.allowInsecure) {
      throw new AppError('internal', 'issuer_insecure', `issuer ${issuer} is not https`, { expose: false });
    }
    let config: oidc.Configuration;
    try {
      // The client id is irrelevant for discovery; we use the configuration only for server metadata.
      config = await oidc.discovery(url, 'mcprt-resource-server', undefined, undefined, {
        execute: this.#opts.allowInsecure ? [oidc.allowInsecureRequests] : [],
        timeout: this.#opts.timeoutMs / 1000,
      });
    } catch (cause) {
      throw new AppError('unavailable', 'issuer_unreachable', `cannot discover issuer ${issuer}`, { cause, retryable: true, expose: false });
    }
    const m = config.serverMetadata();
    if (!m.jwks_uri) throw new AppError('internal', 'issuer_no_jwks', `issuer ${issuer} publishes no jwks_uri`, { expose: false });
    const meta: IssuerMetadata = {
      issuer: m.issuer,
      jwksUri: m.jwks_uri,
      userinfoEndpoint: m.userinfo_endpoint,
      tokenEndpoint: m.token_endpoint,
    };
    // jose refetches the key set when a token names an unknown kid (key rotation), at most once per cooldown.
    const jwks = createRemoteJWKSet(new URL(m.jwks_uri), {
      cooldownDuration: this.#opts.jwksCooldownMs,
      cacheMaxAge: 600_000,
      timeoutDuration: this.#opts.timeoutMs,
    });
    return { meta, jwks };
  }
}
