import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig, type CliConfig } from '@mcprt/config';
import { createDb } from '@mcprt/db';
import { inSpan, tracingEnabled } from '@mcprt/observability';
import type { Command, CommandGroup, Values } from './command.js';
import { auditCommands } from './groups/audit.js';
import { authorizationServerCommands } from './groups/authorization-server.js';
import { devCommands } from './groups/dev.js';
import { keysCommands } from './groups/keys.js';
import { mcpCommands } from './groups/mcp.js';
import { tenantCommands } from './groups/tenant.js';
import { CliError, UsageError, type CliResources } from './resources.js';

/**
 * The operator CLI: `pnpm cli <group> <command> [--flags]`. A thin adapter: parse argv, load the
 * config (the only place reading process.env), open the database, run one command function, map
 * errors to exit codes (2 bad input, 1 failure). Each group's commands live in `groups/`.
 */

const commands: CommandGroup = {
  ...tenantCommands,
  ...auditCommands,
  ...keysCommands,
  ...authorizationServerCommands,
  ...mcpCommands,
  ...devCommands,
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

const out = (line: string) => process.stdout.write(`${line}\n`);
const err = (line: string) => process.stderr.write(`${line}\n`);

/** The command named by the first two (or three: `tenant api-key create`) words, and the arguments after it. */
function findCommand(argv: string[]): { name: string; command: Command | undefined; rest: string[] } {
  const [group, sub, ...more] = argv;
  let rest = more;
  let name = `${group} ${sub ?? ''}`.trim();
  if (rest[0] && !rest[0].startsWith('-') && commands[`${name} ${rest[0]}`]) {
    name = `${name} ${rest[0]}`;
    rest = rest.slice(1);
  }
  return { name, command: commands[name], rest };
}

/** The flags, or the exit code when they were invalid or `--help` was asked for. */
function parseFlags(command: Command, args: string[]): Values | number {
  let values: Values;
  try {
    ({ values } = parseArgs({ args, options: { ...command.options, help: { type: 'boolean', short: 'h' } }, strict: true, allowPositionals: false }));
  } catch (e) {
    err(`error: ${(e as Error).message}\n\n${commandHelp(command)}`);
    return 2;
  }
  if (values.help) {
    out(commandHelp(command));
    return 0;
  }
  return values;
}

function configFor(command: Command): CliConfig | undefined {
  try {
    return loadConfig(process.env, 'cli');
  } catch (e) {
    if (!(e instanceof ConfigError) || !command.configOptional) throw e;
    return undefined;
  }
}

async function main(argv: string[]): Promise<number> {
  // The development .env written by `pnpm start` (variables already set win).
  if (existsSync('.env')) process.loadEnvFile('.env');
  const group = argv[0];
  if (!group || group === '--help' || group === '-h' || group === 'help') {
    out(globalHelp());
    return group ? 0 : 2;
  }
  const { name, command, rest } = findCommand(argv);
  if (!command) {
    err(`error: unknown command "${name}"\n\n${globalHelp()}`);
    return 2;
  }
  const values = parseFlags(command, rest);
  if (typeof values === 'number') return values;
  const config = configFor(command);

  const withDb = async <T>(fn: (res: CliResources) => Promise<T>): Promise<T> => {
    const handle = createDb(config!.DATABASE_URL, { max: 2, applicationName: 'mcprt-cli' });
    try {
      return await fn({ db: handle.db, sql: handle.sql, config: config!, out, err });
    } finally {
      await handle.close();
    }
  };
  // Tracing (OTEL_*; off by default): the same start as the API's and the worker's, loaded only when on.
  const tracing =
    config && tracingEnabled(config) ? await (await import('@mcprt/bootstrap')).startProcessTracing('cli', config, { debug: () => undefined }) : undefined;
  try {
    return await inSpan(`cli ${name}`, { parent: 'root' }, () => command.run({ values, config, out, err, withDb }));
  } catch (e) {
    if (e instanceof UsageError) {
      err(`error: ${e.message}\n(see: pnpm cli ${name} --help)`);
      return 2;
    }
    throw e;
  } finally {
    await tracing?.shutdown();
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
