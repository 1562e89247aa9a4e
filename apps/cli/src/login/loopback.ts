import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/**
 * The redirect endpoint of a native OAuth client (RFC 8252 §7.3): an HTTP listener on 127.0.0.1 at a
 * port the OS picks, path `/callback`, alive for one CLI run. It answers the browser with a short
 * page and hands the callback's query to whoever waits for the `state` it carries; a callback with
 * any other state is refused (400) and does not end the wait.
 */
export interface Loopback {
  redirectUrl: string;
  /** Resolves with the callback's parameters once a request carrying `state` arrives. */
  waitFor(state: string, timeoutMs: number): Promise<URLSearchParams>;
  close(): Promise<void>;
}

const PAGE_STYLE = 'body{font:16px/1.5 system-ui,sans-serif;max-width:32rem;margin:4rem auto;padding:0 1rem;color:#1d2330}';

function page(title: string, text: string): string {
  const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title><style>${PAGE_STYLE}</style></head><body><h1>${esc(title)}</h1><p>${esc(text)}</p></body></html>`;
}

export async function startLoopback(): Promise<Loopback> {
  const waiters = new Map<string, (params: URLSearchParams) => void>();
  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    const headers = {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    };
    const state = url.searchParams.get('state') ?? '';
    const waiter = req.method === 'GET' && url.pathname === '/callback' ? waiters.get(state) : undefined;
    if (!waiter) {
      res.writeHead(400, headers).end(page('Unexpected request', 'This address only receives the sign-in started by the mcprt CLI.'));
      return;
    }
    waiters.delete(state);
    const error = url.searchParams.get('error');
    res
      .writeHead(200, headers)
      .end(
        error
          ? page('Sign-in not completed', `The server answered ${error}. You can close this tab; the terminal says what happened.`)
          : page('Signed in', 'You can close this tab and return to the terminal.'),
      );
    waiter(url.searchParams);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  return {
    redirectUrl: `http://127.0.0.1:${port}/callback`,
    waitFor(state, timeoutMs) {
      return new Promise((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(state);
          reject(new Error(`no sign-in arrived within ${Math.round(timeoutMs / 1000)} s`));
        }, timeoutMs);
        waiters.set(state, (params) => {
          clearTimeout(timer);
          resolve(params);
        });
      });
    },
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
