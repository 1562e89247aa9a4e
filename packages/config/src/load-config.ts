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

/**
 * REDIS_URL against REDIS_CLUSTER: one URL for a single Redis; for a cluster, database 0 only (a
 * cluster has no other), and a QUEUE_PREFIX with a hash tag (BullMQ's scripts and ours touch several
 * keys at once, which a cluster allows only within one slot).
 */
function clusterRules(c: Partial<Config>, ctx: z.RefinementCtx): void {
  const parts = c.REDIS_URL?.split(',').map((u) => u.trim());
  if (!parts?.every((u) => URL.canParse(u))) return; // absent, or refused by its own rule already
  const urls = parts.map((u) => new URL(u));
  const refuse = (path: keyof Config, message: string) => ctx.addIssue({ code: 'custom', path: [path], message });
  if (!c.REDIS_CLUSTER) {
    if (urls.length > 1) refuse('REDIS_URL', 'lists several nodes: set REDIS_CLUSTER=true for a Redis Cluster, or give one URL');
    return;
  }
  if (urls.some((u) => !['', '/', '/0'].includes(u.pathname))) refuse('REDIS_URL', 'a Redis Cluster has database 0 only: no /<db> path');
  if (c.QUEUE_PREFIX !== undefined && !/\{[^}]+\}/.test(c.QUEUE_PREFIX))
    refuse('QUEUE_PREFIX', 'needs a hash tag, like {mcprt}, with REDIS_CLUSTER=true (every key of the queue must hash to one slot)');
}

const rules = (c: Partial<Config>, ctx: z.RefinementCtx) => {
  productionRules(c, ctx);
  clusterRules(c, ctx);
};
const full = schema.superRefine(rules);
const viewSchema = (keys: readonly (keyof Config)[]): z.ZodType<unknown> =>
  schema.pick(Object.fromEntries(keys.map((k) => [k, true])) as Partial<Record<keyof Config, true>>).superRefine(rules);
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
/** A password in a URL, in each URL of a comma-separated list (REDIS_URL of a cluster). */
const URL_PASSWORD = /(^|,)(\s*[a-z][a-z0-9+.-]*:\/\/[^:/@,]*:)[^@/,]+@/gi;

/** The configuration as it may be printed: secrets blanked, URL passwords masked. */
export function redactedConfig(c: Partial<Config>): Record<string, unknown> {
  return Object.fromEntries(
    Object.entries(c).map(([k, v]) => [k, SECRET_VARS.has(k) ? '[REDACTED]' : typeof v === 'string' ? v.replace(URL_PASSWORD, '$1$2[REDACTED]@') : v]),
  );
}

/** A config logged (JSON, pino) or printed (console.log, util.inspect) shows no secret: logs are read by more people than the keyring. */
function hideSecrets<C extends Partial<Config>>(c: C): C {
  Object.defineProperty(c, 'toJSON', { value: () => redactedConfig(c), enumerable: false });
  Object.defineProperty(c, inspect.custom, { value: () => redactedConfig(c), enumerable: false });
  return c;
}
