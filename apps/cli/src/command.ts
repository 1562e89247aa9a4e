import type { ParseArgsConfig } from 'node:util';
import type { CliConfig } from '@mcprt/config';
import type { CliResources } from './resources.js';

/** The parsed flags of one command line. */
export type Values = Record<string, string | boolean | undefined>;

/** A string flag's value, or undefined when absent (or given as a boolean). */
export const str = (v: Values, k: string): string | undefined => (typeof v[k] === 'string' ? v[k] : undefined);

/** What a command's `run` gets: its flags, the configuration (when it loaded), the terminal and a database opener. */
export interface CommandContext {
  values: Values;
  config: CliConfig | undefined;
  out: (l: string) => void;
  err: (l: string) => void;
  withDb: <T>(fn: (res: CliResources) => Promise<T>) => Promise<T>;
}

/** One `pnpm cli <group> <command>`: its help text, its flags, and the function it runs (exit code). */
export interface Command {
  usage: string;
  summary: string;
  details: string[];
  options: NonNullable<ParseArgsConfig['options']>;
  /** Runs without a valid configuration (keys generate: SEAL_KEYS may not exist yet). */
  configOptional?: boolean;
  run(ctx: CommandContext): Promise<number>;
}

/** The commands of one group, by full name (`tenant create`, `tenant api-key list`, …). */
export type CommandGroup = Record<string, Command>;
