import type { CliConfig } from '@mcprt/config';
import type { Database, DbHandle } from '@mcprt/db';

/**
 * What every command gets. Commands are plain functions over this, so tests call them directly;
 * `main.ts` builds it from the environment and prints to the terminal.
 */
export interface CliResources {
  db: Database;
  /** The raw client of the same pool, for the statements that stream (audit verification). */
  sql?: DbHandle['sql'];
  config: CliConfig;
  /** Results (stdout): what a script may capture. */
  out: (line: string) => void;
  /** Hints and warnings (stderr), kept off stdout so `$(pnpm cli …)` captures only the result. Default: dropped. */
  err?: (line: string) => void;
}

/** Bad input from the operator (unknown flag, invalid slug, …): exit code 2, message shown as is. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

/** The command could not do what was asked (duplicate slug, unknown tenant, IdP unreachable): exit code 1. */
export class CliError extends Error {
  override readonly name = 'CliError';
}

export const hint = (res: Pick<CliResources, 'err'>, line: string): void => res.err?.(line);
