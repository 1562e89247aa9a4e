import { inspect } from 'node:util';
import type { z } from 'zod';
import { schema, type Config } from './schema.js';
import { VIEWS, type ConfigView, type ConfigViewName } from './views.js';

/**
 * The configuration, parsed once at start-up: packages never read process.env; an app calls
 * `loadConfig(process.env, '<its view>')` and passes the result down. Without a view: every variable
 * (tests, tools that stand in for all processes).
 */
export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n${problems.map((p) => `  - ${p}`).join('\n')}`);
    this.name = 'ConfigError';
  }
}

/** Development switches refused in production, checked for the variables a view holds. */
function productionRules(c: Partial<Config>, ctx: z.RefinementCtx): void {
  if (c.NODE_ENV !== 'production') return;
  const refuse = (path: keyof Config, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (c.ALLOW_INSECURE_ISSUERS) refuse('ALLOW_INSECURE_ISSUERS', 'must be false in production');
  if (c.ENABLE_TEST_TOOLS) refuse('ENABLE_TEST_TOOLS', 'must be false in production');
  if (c.PUBLIC_URL !== undefined && !c.PUBLIC_URL.startsWith('https://')) refuse('PUBLIC_URL', 'must be https:// in production');
  if (c.MIGRATE_DATABASE_URL)
    refuse('MIGRATE_DATABASE_URL', 'must not be set in production: the apps hold only the app role; migrate with `pnpm migrate` as a separate job');
}

const full = schema.superRefine(productionRules);
const viewSchema = (keys: readonly (keyof Config)[]): z.ZodType<unknown> =>
  schema.pick(Object.fromEntries(keys.map((k) => [k, true])) as Partial<Record<keyof Config, true>>).superRefine(productionRules);
const views = Object.fromEntries(Object.entries(VIEWS).map(([name, keys]) => [name, viewSchema(keys)])) as Record<ConfigViewName, z.ZodType<unknown>>;

/** Parse the environment. The error names each wrong variable, never its value (it may be a secret). */
export function loadConfig(env: Record<string, string | undefined>): Config;
export function loadConfig<V extends ConfigViewName>(env: Record<string, string | undefined>, view: V): ConfigView<V>;
export function loadConfig(env: Record<string, string | undefined>, view?: ConfigViewName): Partial<Config> {
  // Treat empty strings as unset so `FOO=` in a .env file falls back to the default.
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''));
  const parsed = (view ? views[view] : full).safeParse(cleaned);
  if (parsed.success) return hideSecrets(parsed.data as Partial<Config>);
  throw new ConfigError(parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`));
}

/** Whether outbound requests may reach loopback and private addresses: EGRESS_ALLOW_PRIVATE if set, else only outside production. */
export const egressAllowsPrivate = (c: Pick<Config, 'EGRESS_ALLOW_PRIVATE' | 'NODE_ENV'>): boolean => c.EGRESS_ALLOW_PRIVATE ?? c.NODE_ENV !== 'production';

/** Values that are secrets: the keyring, API keys, and the password inside a connection URL. */
const SECRET_VARS = new Set(['SEAL_KEYS', 'SCAVIO_API_KEY', 'OTEL_EXPORTER_OTLP_HEADERS']);
const URL_PASSWORD = /^([a-z][a-z0-9+.-]*:\/\/[^:/@]*:)[^@/]+@/i;

/** The configuration as it may be printed: secrets blanked, URL passwords masked. */
export function redactedConfig(c: Partial<Config>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(c).map(([k, v]) => [k, SECRET_VARS.has(k) ? '[REDACTED]' : typeof v === 'string' ? v.replace(URL_PASSWORD, '$1[REDACTED]@') : v]),
  );
}

/** A config logged (JSON, pino) or printed (console.log, util.inspect) shows no secret: logs are read by more people than the keyring. */
function hideSecrets<C extends Partial<Config>>(c: C): C {
  Object.defineProperty(c, 'toJSON', { value: () => redactedConfig(c), enumerable: false });
  Object.defineProperty(c, inspect.custom, { value: () => redactedConfig(c), enumerable: false });
  return c;
}
