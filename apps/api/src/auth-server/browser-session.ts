import { randomBytes, timingSafeEqual } from 'node:crypto';
import { open, seal, type Keyring, type SealContext } from '@mcprt/keyring';
import type { ParameterizedContext } from 'koa';
import type { ApiState } from '../http/state.js';

type Ctx = ParameterizedContext<ApiState>;

/** How long a sign-in transaction or a page's form stays usable. */
const FORM_MS = 600_000;

/**
 * The browser pages' cookies, in one place: signed (the app's key ring), httpOnly, `Secure` when
 * PUBLIC_URL is https, scoped to the narrowest path that reads them, and short-lived.
 * - sealed: a value only this server opens, bound to a seal context (a transaction of one sign-in);
 * - CSRF: a random token the page's form echoes, compared in constant time (`SameSite=Strict`).
 */
export class BrowserCookies {
  constructor(
    private readonly keyring: Keyring,
    private readonly secure: boolean,
  ) {}

  setSealed(ctx: Ctx, name: string, value: string, context: SealContext, path: string): void {
    ctx.cookies.set(name, seal(this.keyring, value, context), { path, httpOnly: true, sameSite: 'lax', signed: true, secure: this.secure, maxAge: FORM_MS });
  }

  /** The sealed value, or undefined when the cookie is absent; throws when it does not open under `context`. */
  openSealed(ctx: Ctx, name: string, context: SealContext): string | undefined {
    const sealed = ctx.cookies.get(name, { signed: true });
    return sealed ? open(this.keyring, sealed, context) : undefined;
  }

  has(ctx: Ctx, name: string): boolean {
    return ctx.cookies.get(name, { signed: true }) !== undefined;
  }

  clear(ctx: Ctx, name: string, path: string): void {
    ctx.cookies.set(name, null, { path });
  }

  /** A fresh CSRF token, set as the cookie `name` for `path`, to put in the page's form. */
  issueCsrf(ctx: Ctx, name: string, path: string): string {
    const csrf = randomBytes(32).toString('base64url');
    ctx.cookies.set(name, csrf, { path, httpOnly: true, sameSite: 'strict', signed: true, secure: this.secure, maxAge: FORM_MS });
    return csrf;
  }

  /**
   * A session cookie (the admin console's): signed, httpOnly, `SameSite=Strict` (never sent on a
   * request another site starts), `Secure` under https, only for `path`, living `maxAgeMs`.
   */
  setSession(ctx: Ctx, name: string, value: string, path: string, maxAgeMs: number): void {
    ctx.cookies.set(name, value, { path, httpOnly: true, sameSite: 'strict', signed: true, secure: this.secure, maxAge: maxAgeMs });
  }

  /** A signed cookie's value (undefined when absent or its signature does not hold). */
  signedValue(ctx: Ctx, name: string): string | undefined {
    return ctx.cookies.get(name, { signed: true });
  }

  /** Whether the form's token is the cookie's. */
  csrfMatches(ctx: Ctx, name: string, given: string | undefined): boolean {
    const expected = ctx.cookies.get(name, { signed: true });
    return given !== undefined && expected !== undefined && safeEqual(given, expected);
  }
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}
