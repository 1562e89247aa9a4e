import { browse } from '../src/harness/browser.js';
import { freePort } from '../src/harness/free-port.js';
import { runSuite, verdictOf, type ScenarioResult } from './suite.js';

/**
 * The suite's `authorization` subcommand against the tenant's authorization server: its metadata
 * (RFC 8414, with CIMD support advertised) and the authorization code grant with PKCE and the
 * `resource` indicator. The suite prints the authorization URL for a person to open; here the
 * harness's user agent opens it, signs in as alice at the dev IdP, allows the consent, and delivers
 * the redirect to the suite's own callback listener, as a browser would.
 */
export async function runAuthorization(as: { issuer: string; mcpUrl: string }): Promise<ScenarioResult> {
  const port = await freePort();
  const callback = `http://127.0.0.1:${port}/callback`;
  const clientId = await registerPublicClient(as.issuer, callback);
  let signIn: Promise<void> | undefined;
  const signInErrors: string[] = [];
  const flow: string[] = [];
  const r = await runSuite(['authorization', '--url', as.issuer, '--client-id', clientId, '--resource', as.mcpUrl, '--port', String(port)], {
    onLine: (line) => {
      if (signIn || !line.startsWith(`${as.issuer}/`) || !line.includes('response_type=code')) return;
      signIn = (async () => {
        const { callback: reached, steps } = await browse(line.trim(), { account: 'alice', stopAt: callback });
        flow.push(...steps.map((s) => `${s.method} ${s.url} → ${s.status}`), `→ ${reached.href}`);
        await (await fetch(reached)).text();
      })().catch((e: unknown) => void signInErrors.push(String(e)));
    },
  });
  await signIn;
  const output = `${r.output}\nsign-in steps:\n${flow.join('\n')}${signInErrors.length ? `\nsign-in: ${signInErrors.join('; ')}` : ''}`;
  return { name: 'authorization', checks: r.checks, verdict: verdictOf(r.checks), output };
}

/** A public client (PKCE, no secret) registered by dynamic client registration, redirecting to the suite's listener. */
async function registerPublicClient(issuer: string, redirectUri: string): Promise<string> {
  const res = await fetch(`${issuer}/reg`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      client_name: 'MCP conformance suite',
      redirect_uris: [redirectUri],
      grant_types: ['authorization_code'],
      response_types: ['code'],
      token_endpoint_auth_method: 'none',
    }),
  });
  if (res.status !== 201) throw new Error(`client registration → ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { client_id: string }).client_id;
}
