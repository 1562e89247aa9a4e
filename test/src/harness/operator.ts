import { apiKeysRepository, type Executor } from '@mcprt/db';
import { generateApiKey } from '@mcprt/identity';
import { CookieJar } from './browser.js';

/** A tenant API key as `tenant api-key create` makes it (hashed in the table), returned once. */
export async function createKey(db: Executor, tenantId: string, scopes: string[], name = 'console test'): Promise<{ id: string; key: string }> {
  const k = generateApiKey();
  await apiKeysRepository(db, tenantId).create({ id: k.id, name, secretHash: k.secretHash, scopes });
  return { id: k.id, key: k.key };
}

const CSRF = /name="csrf" value="([^"]+)"/;

/**
 * An operator's browser for the admin console without a browser: a path-scoped cookie jar, the
 * console's CSRF token read from the last page, redirects not followed (tests look at them).
 */
export class Operator {
  readonly jar = new CookieJar();
  csrf: string | undefined;
  /** The Set-Cookie lines of the sign-in answer (to replay a cookie somewhere else). */
  signInCookies: string[] = [];

  constructor(
    readonly publicUrl: string,
    readonly slug: string,
  ) {}

  url(path: string): URL {
    return new URL(`${this.publicUrl}/t/${this.slug}/admin${path}`);
  }

  /** The sign-in form, then posting `key` to it: the answer (303 to the calls page when it worked). */
  async signIn(key: string, o: { csrf?: string | null } = {}): Promise<Response> {
    const form = await this.get('/login');
    const csrf = CSRF.exec(await form.text())?.[1];
    const res = await this.post('/login', { key }, { csrf: o.csrf === undefined ? csrf : o.csrf });
    this.signInCookies = res.headers.getSetCookie();
    return res;
  }

  async get(path: string, headers: Record<string, string> = {}): Promise<Response> {
    const url = this.url(path);
    const res = await fetch(url, { redirect: 'manual', headers: { cookie: this.jar.header(url), ...headers } });
    this.jar.store(url, res);
    return res;
  }

  /** GET a page that must answer 200 HTML; its CSRF token becomes the one forms send. */
  async page(path: string): Promise<string> {
    const res = await this.get(path);
    const html = await res.text();
    if (res.status !== 200) throw new Error(`GET ${path} → ${res.status}: ${html.slice(0, 300)}`);
    this.csrf = CSRF.exec(html)?.[1] ?? this.csrf;
    return html;
  }

  /** A form POST; `csrf: null` leaves the token out, a string replaces it. */
  async post(path: string, fields: Record<string, string | string[]>, o: { csrf?: string | null; headers?: Record<string, string> } = {}): Promise<Response> {
    const url = this.url(path);
    const body = new URLSearchParams();
    const csrf = o.csrf === undefined ? this.csrf : o.csrf;
    if (csrf !== null && csrf !== undefined) body.append('csrf', csrf);
    for (const [k, v] of Object.entries(fields)) for (const one of Array.isArray(v) ? v : [v]) body.append(k, one);
    const res = await fetch(url, {
      method: 'POST',
      redirect: 'manual',
      headers: { 'content-type': 'application/x-www-form-urlencoded', cookie: this.jar.header(url), ...o.headers },
      body: body.toString(),
    });
    this.jar.store(url, res);
    return res;
  }
}
