import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/** Keys whose values are secrets wherever they appear (DESIGN §5: tokens and keys are never logged). */
const SECRET_KEYS = [
  // Tokens and sealed credentials.
  'token',
  'accessToken',
  'refreshToken',
  'idToken',
  'access_token',
  'refresh_token',
  'id_token',
  'sealed',
  'sealedToken',
  // Credentials sent in headers.
  'authorization',
  'Authorization',
  'cookie',
  'Cookie',
  'set-cookie',
  'x-api-key',
  // Keys and secrets from the configuration (SEAL_KEYS, SCAVIO_API_KEY, IdP client secrets).
  'SEAL_KEYS',
  'sealKeys',
  'SCAVIO_API_KEY',
  'apiKey',
  'api_key',
  'clientSecret',
  'client_secret',
  'secret',
  'password',
  'pass',
];

/** Keys that hold connection URLs: only a password inside them is a secret (the host helps debugging). */
const URL_KEYS = ['DATABASE_URL', 'REDIS_URL', 'databaseUrl', 'redisUrl', 'connectionString', 'url'];

/**
 * Paths pino blanks out wherever they appear in a log object, at the top level, one level down (a
 * `config` or `job` object) and in request/response headers. Bindings we attach ourselves never carry
 * secrets; this is the net under mistakes. Free text is scrubbed separately (`scrubText`).
 */
const seg = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? `.${k}` : `["${k}"]`);
const under = (prefix: string, k: string) => `${prefix}${seg(k)}`.replace(/^\./, '');
export const REDACT_PATHS = [
  ...[...SECRET_KEYS, ...URL_KEYS].flatMap((k) => [under('', k), under('*', k)]),
  ...SECRET_KEYS.flatMap((k) => [under('headers', k), under('*.headers', k)]),
];

const URL_KEY_SET = new Set(URL_KEYS);
/** `scheme://user:password@host` → the password masked (connection URLs in config, errors, messages). */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi;
/** Bearer tokens and JWTs that slip into free text (an error message, say) are masked too. */
const TOKEN_IN_TEXT = /(Bearer\s+)[A-Za-z0-9._~+/-]+=*|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g;
export const scrubText = (s: string): string =>
  s.replace(TOKEN_IN_TEXT, (_m, bearer?: string) => (bearer ? `${bearer}[REDACTED]` : '[REDACTED]')).replace(URL_PASSWORD, '$1[REDACTED]@');

/** A URL key keeps its value with the password masked; every other redacted path is blanked. */
function censor(value: unknown, path: string[]): unknown {
  const key = path[path.length - 1];
  if (key !== undefined && URL_KEY_SET.has(key)) return typeof value === 'string' ? scrubText(value) : value;
  return '[REDACTED]';
}

/** Every string inside a serialized error (message, stack, cause, a driver's own fields), scrubbed. */
function scrubDeep(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return scrubText(v);
  if (depth > 6 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => scrubDeep(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEYS.includes(k) ? '[REDACTED]' : scrubDeep(x, depth + 1);
  return out;
}

export interface LoggerOptions {
  level?: string;
  name: string;
  /** Where lines go; tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  const errSerializer = (e: unknown) => scrubDeep(pino.stdSerializers.err(e as Error));
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        // Free-text arguments are scrubbed of anything token-shaped and of passwords in URLs.
        logMethod(args, method) {
          const scrubbed = args.map((a) => (typeof a === 'string' ? scrubText(a) : a));
          // `log.error(err)` takes the message from the error itself: give pino a scrubbed one.
          if (scrubbed.length === 1 && scrubbed[0] instanceof Error) scrubbed.push(scrubText(scrubbed[0].message));
          method.apply(this, scrubbed as Parameters<typeof method>);
        },
      },
      serializers: { err: errSerializer, error: errSerializer },
    },
    // Default: stdout, written asynchronously so a busy process does not block on one write(2) per
    // line; lines queued while a write is in flight go out together. Apps flush before exiting.
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
