import { existsSync } from 'node:fs';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { ConfigError, loadConfig, type CliConfig } from '@mcprt/config';
import { createDb } from '@mcprt/db';
import { asRotateKey } from './commands/as-rotate-key.js';
import { auditVerify, auditVerifyExport } from './commands/audit-verify.js';
import { apiKeyCreate, apiKeyList, apiKeyRevoke } from './commands/tenant-api-key.js';
import { tenantRetention } from './commands/tenant-retention.js';
import { clientCreate } from './commands/client-create.js';
import { devSeed } from './commands/dev-seed.js';
import { devToken } from './commands/dev-token.js';
import { keysGenerate } from './commands/keys-generate.js';
import { mcpCall } from './commands/mcp-call.js';
import { defaultConfigDir } from './login/token-store.js';
import { keysRotate } from './commands/keys-rotate.js';
import { tenantCreate } from './commands/tenant-create.js';
import { tenantList } from './commands/tenant-list.js';
import { tenantSetIdp } from './commands/tenant-set-idp.js';
import { tenantSetUpstream } from './commands/tenant-set-upstream.js';
import { tenantSetScavioKey } from './commands/tenant-set-scavio-key.js';
import { tenantMcpConfig } from './commands/tenant-mcp-config.js';
import { CliError, UsageError, type CliResources } from './resources.js';

/**
 * The operator CLI: `pnpm cli <group> <command> [--flags]`. A thin adapter: parse argv, load the
 * config (the only place reading process.env), open the database, run one command function, map
 * errors to exit codes (2 bad input, 1 failure).
 */

type Options = NonNullable<ParseArgsConfig['options']>;
type Values = Record<string, string | boolean | undefined>;
const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined);

interface Command {
  usage: string;
  summary: string;
  details: string[];
  options: Options;
  /** Runs without a valid configuration (keys generate: SEAL_KEYS may not exist yet). */
  configOptional?: boolean;
  run(ctx: {
    values: Values;
    config: CliConfig | undefined;
    out: (l: string) => void;
    err: (l: string) => void;
    withDb: <T>(fn: (res: CliResources) => Promise<T>) => Promise<T>;
  }): Promise<number>;
}

const commands: Record<string, Command> = {
  'tenant create': {
    usage: 'tenant create --slug <slug> --issuer <url> [--name <name>] [--tools whoami,web_search] [--auth builtin|external]',
    summary: 'create a tenant; prints its MCP URL and a .mcp.json',
    details: [
      '--slug     a-z 0-9 -, 1-63 characters',
      "--issuer   the tenant IdP issuer URL (external: must equal the tokens' iss)",
      '--name     display name (default: the slug)',
      '--tools    comma-separated (default whoami,web_search)',
      '--auth     builtin (default): the tenant is its own OAuth server, users sign in at the IdP (then `tenant set-idp`);',
      '           external: the IdP issues the MCP tokens itself',
    ],
    options: { slug: { type: 'string' }, name: { type: 'string' }, issuer: { type: 'string' }, tools: { type: 'string' }, auth: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await tenantCreate(res, { slug: str(v, 'slug'), name: str(v, 'name'), issuer: str(v, 'issuer'), tools: str(v, 'tools'), auth: str(v, 'auth') }),
          0
        ),
      ),
  },
  'tenant list': {
    usage: 'tenant list',
    summary: 'one line per tenant: slug, issuer, tools, MCP URL',
    details: [],
    options: {},
    run: ({ withDb }) => withDb(async (res) => (await tenantList(res), 0)),
  },
  'tenant set-idp': {
    usage:
      'tenant set-idp --slug <slug> --client-id <id> [--kind oidc|google|github] [--issuer <url>] [--api-base <url>] [--scopes "openid email profile"] [--auth builtin|external]',
    summary: 'the IdP a built-in tenant signs users in with (secret from IDP_CLIENT_SECRET, stored sealed)',
    details: [
      '--client-id  the client registered at the tenant IdP (redirect URIs: {PUBLIC_URL}/t/{slug}/login/callback and …/connect/idp/callback)',
      '--kind       oidc (any issuer, discovery), google (OIDC, offline access), github (OAuth 2, identity from GET /user); default unchanged',
      "--issuer     the OIDC issuer, or GitHub's web base (defaults: google https://accounts.google.com, github https://github.com)",
      '--api-base   github only: the REST API base (default https://api.github.com)',
      '--scopes     upstream scopes to ask for (oidc/google: must include openid; default unchanged)',
      '--auth       builtin: the tenant becomes its own OAuth authorization server; external: trust the IdP tokens',
      'The secret comes from the environment: IDP_CLIENT_SECRET=… pnpm cli tenant set-idp …',
    ],
    options: {
      slug: { type: 'string' },
      'client-id': { type: 'string' },
      scopes: { type: 'string' },
      auth: { type: 'string' },
      kind: { type: 'string' },
      issuer: { type: 'string' },
      'api-base': { type: 'string' },
    },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await tenantSetIdp(res, {
            slug: str(v, 'slug'),
            clientId: str(v, 'client-id'),
            clientSecret: process.env.IDP_CLIENT_SECRET,
            scopes: str(v, 'scopes'),
            auth: str(v, 'auth'),
            kind: str(v, 'kind'),
            issuer: str(v, 'issuer'),
            apiBase: str(v, 'api-base'),
          }),
          0
        ),
      ),
  },
  'tenant set-upstream': {
    usage:
      'tenant set-upstream --slug <slug> --provider github|google|<name> --client-id <id> [--kind oidc|google|github] [--issuer <url>] [--api-base <url>] [--scopes "…"]',
    summary: 'a provider signed-in users can connect for tools that need it (secret from UPSTREAM_CLIENT_SECRET, stored sealed)',
    details: [
      '--provider   the name in connect links (/t/{slug}/connect/{provider}) and in credentials',
      '--kind       defaults to the provider name for github and google',
      '--scopes     scopes always asked for (tools add theirs through the connect link)',
      'Redirect URI to register at the provider: {PUBLIC_URL}/t/{slug}/connect/{provider}/callback',
    ],
    options: {
      slug: { type: 'string' },
      provider: { type: 'string' },
      'client-id': { type: 'string' },
      scopes: { type: 'string' },
      kind: { type: 'string' },
      issuer: { type: 'string' },
      'api-base': { type: 'string' },
    },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await tenantSetUpstream(res, {
            slug: str(v, 'slug'),
            provider: str(v, 'provider'),
            clientId: str(v, 'client-id'),
            clientSecret: process.env.UPSTREAM_CLIENT_SECRET,
            scopes: str(v, 'scopes'),
            kind: str(v, 'kind'),
            issuer: str(v, 'issuer'),
            apiBase: str(v, 'api-base'),
          }),
          0
        ),
      ),
  },
  'tenant set-scavio-key': {
    usage: 'tenant set-scavio-key --slug <slug> [--clear]',
    summary: "the tenant's own Scavio key for web_search (from TENANT_SCAVIO_API_KEY, stored sealed); --clear: the operator's key again",
    details: ['The key comes from the environment: TENANT_SCAVIO_API_KEY=… pnpm cli tenant set-scavio-key --slug acme'],
    options: { slug: { type: 'string' }, clear: { type: 'boolean' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await tenantSetScavioKey(res, { slug: str(v, 'slug'), apiKey: process.env.TENANT_SCAVIO_API_KEY, clear: v.clear === true }), 0)),
  },
  'tenant mcp-config': {
    usage: 'tenant mcp-config --slug <slug> [--token <token>]',
    summary: 'print a .mcp.json for the tenant (with an Authorization header when --token is given)',
    details: ['--token    for clients that cannot do OAuth yet (e.g. from `dev token`)'],
    options: { slug: { type: 'string' }, token: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await tenantMcpConfig(res, { slug: str(v, 'slug'), token: str(v, 'token') }), 0)),
  },
  'tenant api-key create': {
    usage: 'tenant api-key create --slug <slug> --scopes audit:read,calls:read,calls:cancel [--name <name>]',
    summary: 'a back-office API key for the tenant (printed once on stdout; stored hashed)',
    details: [
      "--scopes   comma-separated: audit:read (audit list + NDJSON export), calls:read (every user's calls), calls:cancel",
      '--name     what the key is for (shown by list)',
      'Use: Authorization: Bearer mcprt_ak_… on /t/<slug>/v1/admin/… (docs/audit.md)',
    ],
    options: { slug: { type: 'string' }, scopes: { type: 'string' }, name: { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await apiKeyCreate(res, { slug: str(v, 'slug'), scopes: str(v, 'scopes'), name: str(v, 'name') }), 0)),
  },
  'tenant api-key list': {
    usage: 'tenant api-key list --slug <slug>',
    summary: "the tenant's API keys: id, state, scopes, last use",
    details: [],
    options: { slug: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await apiKeyList(res, { slug: str(v, 'slug') }), 0)),
  },
  'tenant api-key revoke': {
    usage: 'tenant api-key revoke --slug <slug> --id <ak…>',
    summary: 'revoke an API key (refused at once by every API replica)',
    details: [],
    options: { slug: { type: 'string' }, id: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await apiKeyRevoke(res, { slug: str(v, 'slug'), id: str(v, 'id') }), 0)),
  },
  'tenant retention': {
    usage: 'tenant retention --slug <slug> [--call-days 30] [--audit-days 400]',
    summary: "show or set the tenant's retention of call results and audit events (days)",
    details: ['Audit rows leave only once sealed by a checkpoint and older than --audit-days (docs/audit.md).'],
    options: { slug: { type: 'string' }, 'call-days': { type: 'string' }, 'audit-days': { type: 'string' } },
    run: ({ values: v, withDb }) =>
      withDb(async (res) => (await tenantRetention(res, { slug: str(v, 'slug'), callDays: str(v, 'call-days'), auditDays: str(v, 'audit-days') }), 0)),
  },
  'audit verify': {
    usage: 'audit verify --slug <slug> [--since <ISO time>]',
    summary: "recompute the tenant's signed audit checkpoints; names the first missing, altered or reordered row (exit 1)",
    details: ['--since    check rows from the first checkpoint reaching this time (the chain of checkpoints is always checked whole)'],
    options: { slug: { type: 'string' }, since: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await auditVerify(res, { slug: str(v, 'slug'), since: str(v, 'since') })).exitCode),
  },
  'audit verify-export': {
    usage: 'audit verify-export --file <export.ndjson> --keys <audit-keys.json>',
    summary: 'offline: verify an NDJSON audit export with the published public keys only (no database, no config)',
    details: ['--keys     the JSON served at /t/<slug>/v1/audit-keys, saved beforehand'],
    options: { file: { type: 'string' }, keys: { type: 'string' } },
    configOptional: true,
    run: async ({ values: v, out }) => (await auditVerifyExport({ out }, { file: str(v, 'file'), keys: str(v, 'keys') })).exitCode,
  },
  'keys generate': {
    usage: 'keys generate [--kid <kid>]',
    summary: 'print a new kid:key entry for SEAL_KEYS (and how to roll it out)',
    details: ['--kid      key id (default k + UTC yyyymmddHHMM)'],
    options: { kid: { type: 'string' } },
    configOptional: true,
    run: async ({ values: v, config, out, err }) => (keysGenerate({ out, err, config }, { kid: str(v, 'kid') }), 0),
  },
  'keys rotate': {
    usage: 'keys rotate [--batch 500] [--tenant <slug>]',
    summary: 're-seal stored credentials and tenant secrets (IdP/provider client secrets, Scavio keys) under the active key; exit 1 if any cannot be opened',
    details: ['--batch    rows per query (default 500)', '--tenant   only this tenant (default: all)'],
    options: { batch: { type: 'string' }, tenant: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await keysRotate(res, { batch: str(v, 'batch'), tenant: str(v, 'tenant') })).exitCode),
  },
  'client create': {
    usage: 'client create --tenant <slug> --name <name> --redirect-uri <url> [--redirect-uri <url>]… [--confidential]',
    summary: 'built-in tenants: pre-register an OAuth client (never expires); prints its id (and secret, once)',
    details: [
      '--redirect-uri  https, or http on a loopback address; exact match at authorization',
      '--confidential  a client with a secret (default: public, PKCE only)',
    ],
    options: { tenant: { type: 'string' }, name: { type: 'string' }, 'redirect-uri': { type: 'string', multiple: true }, confidential: { type: 'boolean' } },
    run: ({ values: v, withDb }) =>
      withDb(
        async (res) => (
          await clientCreate(res, {
            tenant: str(v, 'tenant'),
            name: str(v, 'name'),
            redirectUris: (v['redirect-uri'] as unknown as string[] | undefined) ?? [],
            confidential: v.confidential === true,
          }),
          0
        ),
      ),
  },
  'as rotate-key': {
    usage: 'as rotate-key --tenant <slug>',
    summary: "built-in tenants: a new signing key for the tenant's authorization server (old keys keep verifying)",
    details: ['--tenant   the tenant slug (auth mode builtin)'],
    options: { tenant: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await asRotateKey(res, { tenant: str(v, 'tenant') }), 0)),
  },
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
  'dev seed': {
    usage: 'dev seed --idp <url> [--slug dev] [--auth builtin|external]',
    summary: 'development only: create the dev tenant if missing; prints its MCP URL',
    details: ['--auth builtin   the tenant is its own authorization server, login at the dev IdP (pnpm start)'],
    options: { idp: { type: 'string' }, slug: { type: 'string' }, auth: { type: 'string' } },
    run: ({ values: v, withDb }) => withDb(async (res) => (await devSeed(res, { idp: str(v, 'idp'), slug: str(v, 'slug'), auth: str(v, 'auth') }), 0)),
  },
};

function globalHelp(): string {
  const width = Math.max(...Object.values(commands).map((c) => c.usage.split(' --')[0]!.split(' [')[0]!.length));
  return [
    'usage: pnpm cli <command> [options]     (pnpm cli <command> --help for its options)',
    '',
    ...Object.entries(commands).map(([name, c]) => `  ${name.padEnd(width)}  ${c.summary}`),
    '',
    'Configuration comes from the environment (DATABASE_URL, PUBLIC_URL, SEAL_KEYS, …), as for the api.',
  ].join('\n');
}

const commandHelp = (c: Command): string =>
  [`usage: pnpm cli ${c.usage}`, '', `  ${c.summary}`, ...(c.details.length ? ['', ...c.details.map((d) => `  ${d}`)] : [])].join('\n');

async function main(argv: string[]): Promise<number> {
  // The development .env written by `pnpm start` (variables already set win).
  if (existsSync('.env')) process.loadEnvFile('.env');
  const out = (line: string) => process.stdout.write(`${line}\n`);
  const err = (line: string) => process.stderr.write(`${line}\n`);

  const [group, sub, ...more] = argv;
  let rest = more;
  if (!group || group === '--help' || group === '-h' || group === 'help') {
    out(globalHelp());
    return group ? 0 : 2;
  }
  let name = `${group} ${sub ?? ''}`.trim();
  // Three-word commands (`tenant api-key create`).
  if (rest[0] && !rest[0].startsWith('-') && commands[`${name} ${rest[0]}`]) {
    name = `${name} ${rest[0]}`;
    rest = rest.slice(1);
  }
  const command = commands[name];
  if (!command) {
    err(`error: unknown command "${name}"\n\n${globalHelp()}`);
    return 2;
  }

  let values: Values;
  try {
    ({ values } = parseArgs({ args: rest, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    err(`error: ${(e as Error).message}\n\n${commandHelp(command)}`);
    return 2;
  }
  if (values.help) {
    out(commandHelp(command));
    return 0;
  }

  let config: CliConfig | undefined;
  try {
    config = loadConfig(process.env, 'cli');
  } catch (e) {
    if (!(e instanceof ConfigError) || !command.configOptional) throw e;
  }

  const withDb = async <T>(fn: (res: CliResources) => Promise<T>): Promise<T> => {
    const handle = createDb(config!.DATABASE_URL, { max: 2, applicationName: 'mcprt-cli' });
    try {
      return await fn({ db: handle.db, sql: handle.sql, config: config!, out, err });
    } finally {
      await handle.close();
    }
  };
  try {
    return await command.run({ values, config, out, err, withDb });
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n(see: pnpm cli ${name} --help)`);
      return 2;
    }
    throw e;
  }
}

/** What reaches the terminal for an unexpected error: a code and message, plus a hint for the usual causes. */
function describe(e: unknown): string {
  if (e instanceof ConfigError && e.problems.some((p) => p.startsWith('SEAL_KEYS'))) {
    return `error: ${e.message}\n(\`pnpm cli keys generate\` makes a SEAL_KEYS entry)`;
  }
  if (e instanceof ConfigError || e instanceof CliError) return `error: ${e.message}`;
  const chain: unknown[] = [];
  for (let x: unknown = e; x && chain.length < 5; x = (x as { cause?: unknown }).cause) chain.push(x);
  const codeOf = (x: unknown) => (x as { code?: unknown }).code;
  const codes = chain.map(codeOf).filter((c): c is string => typeof c === 'string');
  const code = codes[0];
  // The first error with a code (a Postgres or AppError, not Drizzle's wrapper whose message lists the
  // query parameters), first line only.
  const chosen = chain.find((x) => typeof codeOf(x) === 'string') ?? e;
  const message = chosen instanceof Error ? chosen.message.split('\n')[0] : String(chosen);
  let hintText = '';
  if (codes.includes('ECONNREFUSED')) hintText = '\n(is Postgres running at DATABASE_URL?)';
  else if (codes.includes('42P01') || codes.includes('3D000')) hintText = '\n(has the database been created and migrated? run `pnpm migrate`)';
  return `error${code ? ` [${code}]` : ''}: ${message}${hintText}`;
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (e: unknown) => {
    process.stderr.write(`${describe(e)}\n`);
    process.exitCode = 1;
  },
);
