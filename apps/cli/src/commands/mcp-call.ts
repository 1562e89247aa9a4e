import { Client, StreamableHTTPClientTransport, type ClientOptions } from '@modelcontextprotocol/client';
import { openOAuthSession } from '../login/oauth-session.js';
import { CliError, UsageError } from '../resources.js';

/** `--protocol` values and the v2 client's version negotiation each selects. */
const PROTOCOLS: Record<string, ClientOptions['versionNegotiation']> = {
  // Probe with server/discover; fall back to the 2025 initialize handshake against a 2025-only server.
  auto: { mode: 'auto' },
  // 2026-07-28 or nothing.
  '2026-07-28': { mode: { pin: '2026-07-28' } },
  // The client's default: the 2025 initialize handshake, no probe.
  '2025': { mode: 'legacy' },
};

/**
 * `mcp call`: the official MCP SDK client (v2) against a tenant endpoint — a smoke test for
 * operators and the "Call whoami" step of docs/getting-started.md. Prints the tool list or one CallToolResult as JSON;
 * the negotiated protocol revision goes to stderr.
 */
export async function mcpCall(
  io: { out: (line: string) => void; err?: (line: string) => void },
  input: {
    url: string | undefined;
    token: string | undefined;
    tool: string | undefined;
    args: string | undefined;
    protocol?: string | undefined;
    /** Sign in with OAuth (browser, loopback redirect) instead of --token; tokens cached in `configDir`. */
    login?: boolean;
    /** The label the --login tokens are cached under (default `default`). */
    user?: string | undefined;
    /** --login: the scopes to ask for at the first sign-in (default: all the server advertises). */
    scope?: string | undefined;
    configDir?: string;
  },
): Promise<number> {
  if (!input.url) throw new UsageError('--url is required (e.g. http://127.0.0.1:3000/t/dev/mcp)');
  if (input.login && input.token) throw new UsageError('--login and --token exclude each other');
  if (!input.login && (input.user !== undefined || input.scope !== undefined)) throw new UsageError('--user and --scope go with --login');
  if (!input.login && !input.token)
    throw new UsageError('--token or --login is required (e.g. --login, or TOKEN=$(pnpm cli dev token --tenant dev --user alice))');
  const user = input.user ?? 'default';
  if (!/^[A-Za-z0-9._@-]{1,64}$/.test(user)) throw new UsageError('--user must be 1-64 of A-Z a-z 0-9 . _ @ -');
  const protocol = input.protocol ?? 'auto';
  const versionNegotiation = Object.hasOwn(PROTOCOLS, protocol) ? PROTOCOLS[protocol] : undefined;
  if (!versionNegotiation) throw new UsageError('--protocol must be one of auto, 2026-07-28, 2025');
  let url: URL;
  try {
    url = new URL(input.url);
  } catch {
    throw new UsageError('--url is not a URL');
  }
  let args: Record<string, unknown> = {};
  if (input.args) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(input.args);
    } catch {
      parsed = undefined;
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new UsageError('--args must be a JSON object, e.g. \'{"query":"mcp"}\'');
    args = parsed as Record<string, unknown>;
  }
  if (input.login) {
    if (!input.configDir) throw new UsageError('no config directory for the token file');
    const session = await openOAuthSession({
      url,
      user,
      configDir: input.configDir,
      versionNegotiation,
      ...(input.scope ? { scope: input.scope } : {}),
      onAuthorizationUrl: (authUrl) => {
        io.err?.('Open this URL in your browser to sign in:');
        io.err?.(`  ${authUrl.href}`);
        io.err?.('(waiting for the browser to come back to this terminal …)');
      },
    });
    try {
      io.err?.(`protocol ${session.client.getNegotiatedProtocolVersion() ?? 'unknown'}; tokens for "${user}" in ${session.tokenFile}`);
      return await session.run((client) => runTool(io, client, input.tool, args));
    } finally {
      await session.close();
    }
  }

  const client = new Client({ name: 'mcprt-cli', version: '0.1.0' }, { versionNegotiation });
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers: { Authorization: `Bearer ${input.token}` } } });
  try {
    await client.connect(transport);
  } catch (e) {
    throw new CliError(`cannot connect to ${url.href}: ${(e as Error).message}`);
  }
  io.err?.(`protocol ${client.getNegotiatedProtocolVersion() ?? 'unknown'}`);
  try {
    return await runTool(io, client, input.tool, args);
  } finally {
    await client.close();
  }
}

async function runTool(io: { out: (line: string) => void }, client: Client, tool: string | undefined, args: Record<string, unknown>): Promise<number> {
  if (!tool) {
    const { tools } = await client.listTools();
    for (const t of tools) io.out(`${t.name.padEnd(12)} ${t.description ?? ''}`);
    return 0;
  }
  const result = await client.callTool({ name: tool, arguments: args }, { timeout: 120_000 });
  io.out(JSON.stringify(result.structuredContent ?? result, null, 2));
  return result.isError ? 1 : 0;
}
