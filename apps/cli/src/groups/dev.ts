import { devConformance } from '../commands/dev-conformance.js';
import { devSeed } from '../commands/dev-seed.js';
import { devToken } from '../commands/dev-token.js';
import { str, type CommandGroup } from '../command.js';

/**
 * `dev …`: development only, against the development IdP. The IdP package is loaded when one of these
 * commands runs (`loadDevIdp`), never by the others, so a production install works without it.
 */
export const devCommands: CommandGroup = {
  'dev token': {
    usage: 'dev token --tenant <slug> --user <sub> [--idp <url>] [--scope "tools:whoami tools:web_search"]',
    summary: "development only: mint an MCP token from the running dev IdP (stdout) and store the user's upstream token",
    details: [
      '--idp      the dev IdP (default: the tenant issuer)',
      '--scope    default: tools:<tool> for each enabled tool',
      'Example: TOKEN=$(pnpm cli dev token --tenant dev --user alice)',
    ],
    options: { tenant: { type: 'string' }, user: { type: 'string' }, idp: { type: 'string' }, scope: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await devToken(res, { tenant: str(v, 'tenant'), user: str(v, 'user'), idp: str(v, 'idp'), scope: str(v, 'scope') }), 0)),
  },
  'dev conformance': {
    usage: 'dev conformance [--idp <url>] [--slug conformance]',
    summary: "development only (ENABLE_TEST_TOOLS): the conformance suite's test tenant; prints MCP_URL=… and TOKEN=… (1 hour)",
    details: [
      "--idp      the dev IdP its users sign in at (default: the dev tenant's issuer)",
      'Example: eval "$(pnpm --silent cli dev conformance)"; npx @modelcontextprotocol/conformance server --url "$MCP_URL" …',
    ],
    options: { idp: { type: 'string' }, slug: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await devConformance(res, { idp: str(v, 'idp'), slug: str(v, 'slug') }), 0)),
  },
  'dev seed': {
    usage: 'dev seed --idp <url> [--slug dev] [--auth builtin|external]',
    summary: 'development only: create the dev tenant if missing; prints its MCP URL',
    details: ['--auth builtin   the tenant is its own authorization server, login at the dev IdP (pnpm start)'],
    options: { idp: { type: 'string' }, slug: { type: 'string' }, auth: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await devSeed(res, { idp: str(v, 'idp'), slug: str(v, 'slug'), auth: str(v, 'auth') }), 0)),
  },
};
