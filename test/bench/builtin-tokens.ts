import { auth } from '@modelcontextprotocol/client';
import { browse } from '../src/harness/browser.js';
import { CLIENT_REDIRECT, MemoryOAuthProvider } from '../src/harness/oauth-provider.js';

interface Held {
  account: string;
  provider: MemoryOAuthProvider;
  token: string;
  /** When this process received `token` (ms since epoch). */
  receivedAt: number;
  /** Its lifetime as the AS announced it (`expires_in`). */
  lifetimeMs: number;
}

/** The `iss` and `aud` of a JWT access token (not verified: the API does that; this only checks who issued it). */
export function jwtClaims(token: string): { iss?: unknown; aud?: unknown; sub?: unknown } {
  return JSON.parse(Buffer.from(token.split('.')[1] ?? '', 'base64url').toString('utf8')) as { iss?: unknown; aud?: unknown; sub?: unknown };
}

/**
 * The benchmark users' MCP access tokens from a built-in tenant's own authorization server, obtained as
 * an MCP client obtains them: the SDK's `auth()` (protected-resource and AS discovery, dynamic client
 * registration, authorization code + PKCE S256 with `resource`), the user agent of the tests
 * (`browse`: login at the tenant's IdP, consent), then the code exchange. One client registration per
 * user, as separate installations would have.
 *
 * The AS issues access tokens for 600 s (fixed, `TTL.accessToken`; not a per-tenant setting), which a
 * long run outlives: `refreshOlderThan` refreshes them with the rotating refresh token (the SDK's
 * `auth()` again), called by the bench between phases so the refresh stays out of the measured
 * calls, and by a background timer as a backstop for a phase longer than the margin.
 */
export class BuiltinTokens {
  readonly #mcpUrl: string;
  readonly #held: Held[];
  #refreshing: Promise<void> | undefined;
  #timer: NodeJS.Timeout | undefined;
  /** Refreshes done (each refreshes every user's token). */
  refreshes = 0;

  private constructor(mcpUrl: string, held: Held[]) {
    this.#mcpUrl = mcpUrl;
    this.#held = held;
  }

  /** Signs each account in (in turn: the dev IdP's login is a browser flow per user). */
  static async signIn(mcpUrl: string, accounts: readonly string[]): Promise<BuiltinTokens> {
    const held: Held[] = [];
    for (const account of accounts) {
      const provider = new MemoryOAuthProvider();
      const first = await auth(provider, { serverUrl: mcpUrl });
      if (first !== 'REDIRECT' || !provider.authorizationUrl) throw new Error(`sign-in of ${account}: the SDK did not start an authorization (${first})`);
      const { callback } = await browse(provider.authorizationUrl, { account, stopAt: CLIENT_REDIRECT });
      const code = callback.searchParams.get('code');
      if (!code) throw new Error(`sign-in of ${account}: no code in the authorization response (${callback.search})`);
      const iss = callback.searchParams.get('iss');
      const done = await auth(provider, { serverUrl: mcpUrl, authorizationCode: code, ...(iss ? { iss } : {}) });
      if (done !== 'AUTHORIZED') throw new Error(`sign-in of ${account}: code exchange answered ${done}`);
      held.push({ account, provider, ...BuiltinTokens.#current(provider, account) });
    }
    return new BuiltinTokens(mcpUrl, held);
  }

  static #current(provider: MemoryOAuthProvider, account: string): Pick<Held, 'token' | 'receivedAt' | 'lifetimeMs'> {
    const t = provider.stored;
    if (!t?.access_token) throw new Error(`${account}: no access token stored`);
    if (!t.refresh_token) throw new Error(`${account}: the AS issued no refresh token (a run longer than the token would fail)`);
    return { token: t.access_token, receivedAt: Date.now(), lifetimeMs: (t.expires_in ?? 600) * 1000 };
  }

  /** The current access token of user `i` (mod the number of users). */
  token(i: number): string {
    return this.#held[i % this.#held.length]!.token;
  }

  get lifetimeSeconds(): number {
    return Math.min(...this.#held.map((h) => h.lifetimeMs)) / 1000;
  }

  /** Refreshes every token received more than `ms` ago (one refresh at a time; concurrent callers share it). */
  async refreshOlderThan(ms: number): Promise<void> {
    if (this.#refreshing) return this.#refreshing;
    if (!this.#held.some((h) => Date.now() - h.receivedAt >= ms)) return;
    this.#refreshing = (async () => {
      for (const h of this.#held) {
        const before = h.token;
        // With tokens stored and a refresh token, `auth()` refreshes (grant_type=refresh_token, rotated).
        const r = await auth(h.provider, { serverUrl: this.#mcpUrl });
        const now = BuiltinTokens.#current(h.provider, h.account);
        if (r !== 'AUTHORIZED' || now.token === before) throw new Error(`refresh of ${h.account}'s token failed (${r})`);
        Object.assign(h, now);
      }
      this.refreshes++;
    })().finally(() => (this.#refreshing = undefined));
    return this.#refreshing;
  }

  /** Backstop: every 5 s, refresh tokens older than `ms`; a failure is reported through `onError`. */
  startBackground(ms: number, onError: (e: unknown) => void): void {
    this.#timer = setInterval(() => void this.refreshOlderThan(ms).catch(onError), 5_000);
    this.#timer.unref();
  }

  /** Stops the backstop and waits for a refresh in flight (before the API it talks to is stopped). */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    await this.#refreshing?.catch(() => undefined);
  }
}
