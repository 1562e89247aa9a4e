/**
 * A tiny user agent for OAuth flows in tests: follows redirects by hand with a cookie jar (per origin,
 * path-scoped), fills the development IdP's login form and the consent page. Stops when a redirect
 * reaches `stopAt` (the MCP client's redirect URI) and returns that URL. Every step is recorded.
 */
export interface BrowseOptions {
  /** The account to pick at the dev IdP's login page. */
  account: string;
  /** Where the flow ends: the client's redirect URI (never contacted). */
  stopAt: string;
  /** allow (default) or deny on the consent page; `omit-csrf` posts the consent without its token. */
  consent?: 'allow' | 'deny' | 'omit-csrf';
  jar?: CookieJar;
  /** Rewrites a redirect's target before it is followed (an attacker's or a confused browser's hand). */
  rewrite?: (next: URL) => URL;
  /** Every HTML page the flow showed (login, consent), in order. */
  pages?: string[];
}

export class CookieJar {
  readonly #cookies = new Map<string, Map<string, { value: string; path: string }>>();

  /** Drops every cookie of `origin` (a browser whose session at that site has ended). */
  forget(origin: string): void {
    this.#cookies.delete(origin);
  }

  header(url: URL): string {
    const jar = this.#cookies.get(url.origin);
    if (!jar) return '';
    return [...jar.entries()]
      .filter(([, c]) => url.pathname === c.path || url.pathname.startsWith(c.path.endsWith('/') ? c.path : `${c.path}/`) || c.path === '/')
      .map(([key, c]) => `${key.split('\u0000', 1)[0]}=${c.value}`)
      .join('; ');
  }

  store(url: URL, res: Response): void {
    let jar = this.#cookies.get(url.origin);
    if (!jar) this.#cookies.set(url.origin, (jar = new Map()));
    for (const line of res.headers.getSetCookie()) {
      const [pair, ...attrs] = line.split(';').map((p) => p.trim());
      const eq = pair!.indexOf('=');
      const name = pair!.slice(0, eq);
      const value = pair!.slice(eq + 1);
      const attr = Object.fromEntries(attrs.map((a) => [a.split('=')[0]!.toLowerCase(), a.split('=').slice(1).join('=')]));
      const path = attr.path || '/';
      const expired = attr['max-age'] === '0' || (attr.expires !== undefined && Date.parse(attr.expires) < Date.now());
      // The same name at two paths are two cookies; keyed by name + path.
      const key = `${name}\u0000${path}`;
      if (expired || value === '') jar.delete(key);
      else jar.set(key, { value, path });
    }
  }
}

export interface Step {
  method: string;
  url: string;
  status: number;
}

export async function browse(start: string | URL, o: BrowseOptions): Promise<{ callback: URL; steps: Step[]; jar: CookieJar; page?: string }> {
  const jar = o.jar ?? new CookieJar();
  const steps: Step[] = [];
  let url = new URL(start);
  let init: RequestInit = { method: 'GET' };
  for (let i = 0; i < 25; i++) {
    const cookie = jar.header(url);
    const res = await fetch(url, { ...init, redirect: 'manual', headers: { ...(init.headers as Record<string, string>), ...(cookie ? { cookie } : {}) } });
    steps.push({ method: init.method ?? 'GET', url: url.href, status: res.status });
    jar.store(url, res);
    if (res.status >= 300 && res.status < 400) {
      await res.arrayBuffer();
      const location = new URL(res.headers.get('location')!, url);
      const next = o.rewrite ? o.rewrite(location) : location;
      if (next.href.startsWith(o.stopAt)) return { callback: next, steps, jar };
      url = next;
      init = { method: 'GET' };
      continue;
    }
    const html = await res.text();
    o.pages?.push(html);
    if (res.status !== 200) throw new BrowseError(`${init.method ?? 'GET'} ${url.href} → ${res.status}: ${html.slice(0, 300)}`, steps, res.status, html);
    // A flow that ends on our own page (connect: "… is connected") stops there.
    if (html.includes('data-connected=')) return { callback: url, steps, jar, page: html };
    if (html.includes('Development IdP') || html.includes('data-login-double=')) {
      init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams({ account: o.account }).toString() };
      continue;
    }
    const csrf = /name="csrf" value="([^"]+)"/.exec(html)?.[1];
    const action = /<form method="post" action="([^"]+)"/.exec(html)?.[1];
    if (csrf && action) {
      const form = new URLSearchParams({ decision: o.consent === 'deny' ? 'deny' : 'allow' });
      if (o.consent !== 'omit-csrf') form.set('csrf', csrf);
      url = new URL(action.replace(/&amp;/g, '&'), url);
      init = { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() };
      continue;
    }
    throw new BrowseError(`unexpected page at ${url.href}: ${html.slice(0, 300)}`, steps, res.status, html);
  }
  throw new BrowseError('too many steps', steps, 0, '');
}

export class BrowseError extends Error {
  constructor(
    message: string,
    readonly steps: Step[],
    readonly status: number,
    readonly body: string,
  ) {
    super(message);
  }
}
