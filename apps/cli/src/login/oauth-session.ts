import { auth, Client, StreamableHTTPClientTransport, UnauthorizedError, type ClientOptions } from '@modelcontextprotocol/client';
import { CliError } from '../resources.js';
import { CliOAuthProvider } from './cli-oauth-provider.js';
import { startLoopback } from './loopback.js';
import { TokenStore } from './token-store.js';

/** The user (or the browser) refused at the authorization server: `error` as the redirect carried it. */
export class SignInRefusedError extends CliError {
  constructor(
    readonly code: string,
    description: string | null,
  ) {
    super(`sign-in not completed: ${code}${description ? ` (${description})` : ''}`);
  }
}

export interface OAuthSessionOptions {
  url: URL;
  /** The label the tokens are cached under (one server, several accounts). */
  user: string;
  configDir: string;
  versionNegotiation?: ClientOptions['versionNegotiation'];
  /** Called with each authorization URL to open (the CLI prints it; tests and the demo drive a browser). */
  onAuthorizationUrl: (url: URL) => void | Promise<void>;
  /** How long to wait for the browser to come back (default 5 minutes). */
  timeoutMs?: number;
  clientName?: string;
  /**
   * Ask for only these scopes at the first sign-in (default: what the server advertises). A tool
   * needing more then gets the 403 `insufficient_scope` step-up, which the SDK turns into a new
   * authorization for the union.
   */
  scope?: string;
  /** The fetch the transport uses (e.g. to watch the server's answers). */
  fetch?: typeof fetch;
}

export interface OAuthSession {
  client: Client;
  /** Runs `fn`; when the server asks for a (new or wider) authorization, completes it in the browser and runs `fn` again. */
  run<T>(fn: (client: Client) => Promise<T>): Promise<T>;
  /** Where the tokens are kept. */
  tokenFile: string;
  /** How many authorizations (browser round trips) this session went through. */
  authorizations: number;
  /** The current access token (to call the REST API as the same user). */
  accessToken(): string | undefined;
  close(): Promise<void>;
}

const isUnauthorized = (e: unknown) => e instanceof UnauthorizedError || (e as { cause?: unknown } | undefined)?.cause instanceof UnauthorizedError;

/**
 * An MCP SDK client signed in with OAuth from a terminal (a native OAuth client, RFC 8252). The SDK does discovery,
 * registration, PKCE, refresh and step-up; this adds the native-app parts: a loopback redirect
 * listener, the authorization URL handed to the user, the wait for the callback (its `state`
 * checked), and the token file. Cached tokens are used first; an expired access token is refreshed by
 * the SDK without a browser.
 */
export async function openOAuthSession(o: OAuthSessionOptions): Promise<OAuthSession> {
  const store = TokenStore.open(o.configDir);
  const loopback = await startLoopback();
  const timeoutMs = o.timeoutMs ?? 300_000;
  const provider = new CliOAuthProvider({
    store,
    serverUrl: o.url.href,
    user: o.user,
    redirectUrl: loopback.redirectUrl,
    onAuthorizationUrl: o.onAuthorizationUrl,
    expectCallback: (state) => loopback.waitFor(state, timeoutMs),
  });
  let transport!: StreamableHTTPClientTransport;
  let client!: Client;

  const session: OAuthSession = {
    get client() {
      return client;
    },
    tokenFile: store.path,
    authorizations: 0,
    accessToken: () => store.tokens(o.url.href, o.user)?.access_token,
    run: (fn) => withAuthorization(() => fn(client)),
    close: async () => {
      await client?.close().catch(() => undefined);
      await loopback.close();
    },
  };

  const completeAuthorization = async () => {
    const pending = provider.pending;
    if (!pending) throw new CliError('the server refused the credentials and no sign-in was started');
    provider.pending = undefined;
    const params = await pending;
    const error = params.get('error');
    if (error) throw new SignInRefusedError(error, params.get('error_description'));
    await transport.finishAuth(params);
    session.authorizations++;
  };

  async function withAuthorization<T>(fn: () => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      try {
        return await fn();
      } catch (e) {
        if (!isUnauthorized(e) || attempt >= 2) throw e;
        await completeAuthorization();
      }
    }
  }

  // A first sign-in narrower than the server's advertised scopes: the SDK's own `auth` with that scope.
  if (o.scope && !provider.tokens()) {
    try {
      if (await signInWithScope(provider, o, o.scope)) session.authorizations++;
    } catch (e) {
      await loopback.close();
      throw e;
    }
  }

  const connect = async () => {
    await client?.close().catch(() => undefined);
    transport = new StreamableHTTPClientTransport(o.url, { authProvider: provider, ...(o.fetch ? { fetch: o.fetch } : {}) });
    client = new Client({ name: o.clientName ?? 'mcprt-cli', version: '0.1.0' }, o.versionNegotiation ? { versionNegotiation: o.versionNegotiation } : {});
    await client.connect(transport);
  };
  try {
    await withAuthorization(connect);
  } catch (e) {
    await session.close();
    throw e;
  }
  return session;
}

/** A first authorization asking for `scope` only; true when one took place (false: the provider already had tokens). */
async function signInWithScope(provider: CliOAuthProvider, o: OAuthSessionOptions, scope: string): Promise<boolean> {
  const fetchFn = o.fetch ? { fetchFn: o.fetch } : {};
  const started = await auth(provider, { serverUrl: o.url, scope, ...fetchFn });
  if (started !== 'REDIRECT') return false;
  const params = await provider.pending!;
  provider.pending = undefined;
  const error = params.get('error');
  if (error) throw new SignInRefusedError(error, params.get('error_description'));
  await auth(provider, { serverUrl: o.url, scope, authorizationCode: params.get('code') ?? '', iss: params.get('iss') ?? undefined, ...fetchFn });
  return true;
}
