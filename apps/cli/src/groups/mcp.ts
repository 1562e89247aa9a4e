import { mcpCall } from '../commands/mcp-call.js';
import { str, type CommandGroup } from '../command.js';
import { defaultConfigDir } from '../login/token-store.js';

/** `mcp …`: act as an MCP client of a tenant (with a token, or signed in with OAuth from the terminal). */
export const mcpCommands: CommandGroup = {
  'mcp call': {
    usage:
      'mcp call --url <tenant MCP URL> (--token <token> | --login [--user <label>] [--scope <scopes>]) [--tool whoami] [--args \'{"query":"…"}\'] [--protocol auto|2026-07-28|2025]',
    summary: 'call a tool (or list tools) with the MCP SDK client (v2); prints the result as JSON',
    details: [
      '--tool      omit to list the tools',
      '--protocol  auto (default: 2026-07-28 when the server offers it, else the 2025 handshake),',
      '            2026-07-28 (modern only, no fallback), or 2025 (the 2025-11-25 initialize handshake)',
      '--login     sign in with OAuth: prints a URL to open in a browser, receives the answer on a',
      '            loopback address (127.0.0.1, a random port); tokens cached (0600) in',
      '            $MCPRT_CONFIG_DIR, else $XDG_CONFIG_HOME/mcprt, else ~/.config/mcprt; refreshed when expired',
      '--user      the label --login caches the tokens under (default "default"), e.g. alice',
      '--scope     --login: scopes to ask for at the first sign-in (default: all the server offers);',
      '            a tool needing more triggers the step-up (403 insufficient_scope → a new consent)',
      'Example: pnpm cli mcp call --url http://127.0.0.1:3000/t/dev/mcp --login --user alice --tool whoami',
      '         pnpm cli mcp call --url http://127.0.0.1:3000/t/dev/mcp --token "$TOKEN" --tool whoami',
    ],
    options: {
      url: { type: 'string' },
      token: { type: 'string' },
      tool: { type: 'string' },
      args: { type: 'string' },
      protocol: { type: 'string' },
      login: { type: 'boolean' },
      user: { type: 'string' },
      scope: { type: 'string' },
    },
    configOptional: true,
    run: ({ values: v, out, err }) =>
      mcpCall(
        { out, err },
        {
          url: str(v, 'url'),
          token: str(v, 'token'),
          tool: str(v, 'tool'),
          args: str(v, 'args'),
          protocol: str(v, 'protocol'),
          login: v.login === true,
          user: str(v, 'user'),
          scope: str(v, 'scope'),
          configDir: defaultConfigDir(process.env),
        },
      ),
  },
};
