import type { IncomingMessage, ServerResponse } from 'node:http';
import type Provider from 'oidc-provider';

import type { AccountDirectory } from './accounts.js';
import { readBody } from './http-json.js';

/** A relying party allowed to sign users in here with the authorization code flow (tests, quick start). */
export interface DevLoginClient {
  clientId: string;
  clientSecret: string;
  redirectUris: string[];
}

export const INTERACTION_PREFIX = '/interaction/';

/**
 * The login client `pnpm start` registers for the `dev` tenant's built-in authorization server. Its
 * secret is public on purpose: this IdP exists only outside production.
 */
export const DEV_LOGIN_CLIENT = Object.freeze({ clientId: 'mcprt-dev-as', clientSecret: 'dev-login-client-secret-not-for-production' });

const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function send(res: ServerResponse, status: number, html: string, headers: Record<string, string> = {}): void {
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'cache-control': 'no-store',
    'content-security-policy': "default-src 'none'; form-action 'self' *; frame-ancestors 'none'",
    ...headers,
  });
  res.end(html);
}

/**
 * The development IdP's login page: pick a test account (no password — this IdP is refused in
 * production). Signing in also grants what the client asked for: the IdP's login clients are ours.
 * GET /interaction/:uid shows the accounts; POST /interaction/:uid with `account=<sub>` signs in.
 */
export async function handleDevLogin(req: IncomingMessage, res: ServerResponse, provider: Provider, accounts: AccountDirectory): Promise<void> {
  const uid = (req.url ?? '').slice(INTERACTION_PREFIX.length).split(/[/?]/, 1)[0] ?? '';
  let details;
  try {
    details = await provider.interactionDetails(req, res);
  } catch {
    send(res, 400, '<p>This sign-in has expired or belongs to another browser.</p>');
    return;
  }
  if (details.uid !== uid) {
    send(res, 400, '<p>This sign-in belongs to another browser session.</p>');
    return;
  }
  if (req.method === 'GET') {
    const buttons = accounts
      .list()
      .map((a) => `<button type="submit" name="account" value="${esc(a.sub)}">${esc(a.name)} (${esc(a.email)})</button>`)
      .join(' ');
    send(
      res,
      200,
      `<!doctype html><meta charset="utf-8"><title>Dev IdP sign-in</title><h1>Development IdP</h1><p>Sign in as:</p><form method="post">${buttons}</form>`,
    );
    return;
  }
  if (req.method !== 'POST') {
    send(res, 405, '<p>Method not allowed.</p>');
    return;
  }
  const sub = new URLSearchParams(await readBody(req)).get('account') ?? '';
  if (!accounts.has(sub)) {
    send(res, 400, '<p>Unknown account.</p>');
    return;
  }
  const clientId = String(details.params.client_id);
  const grant = new provider.Grant({ accountId: sub, clientId });
  grant.addOIDCScope(String(details.params.scope ?? 'openid'));
  const grantId = await grant.save();
  const returnTo = await provider.interactionResult(req, res, { login: { accountId: sub }, consent: { grantId } }, { mergeWithLastSubmission: false });
  res.writeHead(303, { location: returnTo, 'content-length': '0', 'cache-control': 'no-store' });
  res.end();
}
