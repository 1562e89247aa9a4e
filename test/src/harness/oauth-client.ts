import { createHash, randomBytes } from 'node:crypto';
import { Client, StreamableHTTPClientTransport, UnauthorizedError, type ClientCapabilities } from '@modelcontextprotocol/client';
import { expect } from 'vitest';
import { browse, type CookieJar } from './browser.js';
import { CLIENT_REDIRECT, MemoryOAuthProvider } from './oauth-provider.js';

// Re-exported: the provider lives in a module without vitest, so scripts (the benchmark) use it too.
export { CLIENT_REDIRECT };

export interface SignInOptions {
  /** `modern` negotiates 2026-07-28 (the SDK's auto mode); `legacy` speaks 2025-11-25 (its default). */
  era?: 'modern' | 'legacy';
  capabilities?: ClientCapabilities;
  /** The browser: its cookies keep the authorization server's session (connect links need it). */
  jar?: CookieJar;
  /** The signed-in client's fetch (e.g. harness/strict-wire.ts, to check every answer against the published schemas). */
  fetch?: typeof fetch;
  /** Sign in with a Client ID Metadata Document at this URL (the URL is the client_id) instead of registering. */
  clientMetadataUrl?: string;
  /** Connect the signed-in client before returning (default: the caller calls `connect()`, e.g. after setting handlers). */
  connected?: boolean;
}

/** The SDK client signs `account` in at a built-in tenant (login at its IdP, consent) and returns a connected client. */
export async function signIn(mcpUrl: string, account: string, o: SignInOptions = {}) {
  const auth = new MemoryOAuthProvider();
  if (o.clientMetadataUrl) auth.clientMetadataUrl = o.clientMetadataUrl;
  const options = {
    ...(o.era === 'legacy' ? {} : { versionNegotiation: { mode: 'auto' as const } }),
    ...(o.capabilities ? { capabilities: o.capabilities } : {}),
  };
  const first = new Client({ name: 'mcprt-oauth-test', version: '1.0.0' }, options);
  const transport = new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: auth });
  await expect(first.connect(transport)).rejects.toBeInstanceOf(UnauthorizedError);
  expect(auth.authorizationUrl, 'the SDK asked the user agent to open the authorization URL').toBeDefined();
  const { callback, jar } = await browse(auth.authorizationUrl!, { account, stopAt: CLIENT_REDIRECT, ...(o.jar ? { jar: o.jar } : {}) });
  await transport.finishAuth(callback.searchParams);
  const client = new Client({ name: 'mcprt-oauth-test', version: '1.0.0' }, options);
  const connect = () => client.connect(new StreamableHTTPClientTransport(new URL(mcpUrl), { authProvider: auth, ...(o.fetch ? { fetch: o.fetch } : {}) }));
  if (o.connected) await connect();
  return { client, auth, callback, jar, connect };
}

/** A form POST to the issuer's token endpoint (any grant), answered as status and JSON body. */
export async function tokenRequest(issuer: string, body: Record<string, string>) {
  const res = await fetch(`${issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams(body).toString(),
  });
  return { status: res.status, body: (await res.json()) as Record<string, string> };
}

/**
 * An authorization request of `clientId` (code + PKCE S256, scope tools:whoami) as a browser sends
 * it, redirects not followed: where it goes says how the client was judged (303 back to the client:
 * accepted; 400: refused before any redirect).
 */
export async function authorize(issuer: string, clientId: string, mcpUrl: string): Promise<Response> {
  const url = new URL(`${issuer}/auth`);
  const verifier = randomBytes(32).toString('base64url');
  for (const [k, v] of Object.entries({
    response_type: 'code',
    client_id: clientId,
    redirect_uri: CLIENT_REDIRECT,
    resource: mcpUrl,
    scope: 'tools:whoami',
    state: 'st',
    code_challenge: createHash('sha256').update(verifier).digest('base64url'),
    code_challenge_method: 'S256',
  }))
    url.searchParams.set(k, v);
  return fetch(url, { redirect: 'manual' });
}
