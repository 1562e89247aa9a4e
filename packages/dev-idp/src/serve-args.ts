import { parseArgs } from 'node:util';

export interface ServeArgs {
  port: number;
  host: string;
  /** Redirect URIs of the development login client (DEV_LOGIN_CLIENT): the built-in tenants' login callbacks. */
  loginRedirects?: string[];
}

export const SERVE_USAGE = 'usage: tsx packages/dev-idp/src/serve.ts [--port 4000] [--host 127.0.0.1] [--login-redirect <url>]…';

/** Parses `serve.ts` arguments; throws a TypeError whose message is fit for the terminal. */
export function parseServeArgs(argv: readonly string[]): ServeArgs {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      port: { type: 'string', default: '4000' },
      host: { type: 'string', default: '127.0.0.1' },
      'login-redirect': { type: 'string', multiple: true },
    },
    strict: true,
    allowPositionals: false,
  });
  const port = Number(values.port);
  if (!/^\d+$/.test(values.port) || !Number.isSafeInteger(port) || port > 65535) {
    throw new TypeError(`--port must be an integer from 0 to 65535, got ${JSON.stringify(values.port)}`);
  }
  const redirects = values['login-redirect'];
  for (const r of redirects ?? []) {
    if (!URL.canParse(r) || !/^https?:$/.test(new URL(r).protocol)) throw new TypeError(`--login-redirect must be an http(s) URL, got ${JSON.stringify(r)}`);
  }
  return { port, host: values.host, ...(redirects?.length ? { loginRedirects: redirects } : {}) };
}
