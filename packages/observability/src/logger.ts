import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Keys whose values are secrets wherever they appear in a log object: tokens and keys are never logged
 * (logs are read by more people, and kept longer, than the secrets stay valid). Bindings we attach ourselves never carry secrets; this is the net under mistakes.
 * Free text is scrubbed separately (`scrubText`).
 */
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

const SECRET_KEY_SET = new Set(SECRET_KEYS);
const URL_KEY_SET = new Set(URL_KEYS);

/** The key names whose values the logger blanks (secrets) or masks (URLs), at any depth up to 4. */
export const REDACT_PATHS: readonly string[] = [...SECRET_KEYS, ...URL_KEYS];

/** `scheme://user:password@host` → the password masked (connection URLs in config, errors, messages). */
const URL_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s:/@]*:)[^\s@/]+@/gi;
/** Bearer tokens and JWTs that slip into free text (an error message, say) are masked too. */
const TOKEN_IN_TEXT = /(Bearer\s+)[A-Za-z0-9._~+/-]+=*|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g;
export const scrubText = (s: string): string =>
  s.replace(TOKEN_IN_TEXT, (_m, bearer?: string) => (bearer ? `${bearer}[REDACTED]` : '[REDACTED]')).replace(URL_PASSWORD, '$1[REDACTED]@');

const isPlain = (v: object): boolean => {
  const proto = Object.getPrototypeOf(v) as unknown;
  return proto === Object.prototype || proto === null;
};

/**
 * The log object with every secret-named key blanked and every URL-named key's password masked, in
 * plain objects and arrays down to depth 4 (a `config`, a `job`, `req.headers`). Copy-on-write: a line
 * with nothing to hide costs one pass over its keys and no allocation. (pino's own `redact` with
 * wildcard paths for the same keys costs several times more per line, and the worker logs a line per call.)
 */
function redact<T>(v: T, depth = 0): T {
  if (depth > 4 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const r = redact(v[i] as unknown, depth + 1);
      if (r !== v[i]) (out ??= [...v])[i] = r;
    }
    return (out ?? v) as T;
  }
  if (!isPlain(v) && depth > 0) return v;
  let out: Record<string, unknown> | undefined;
  for (const k in v) {
    const x = (v as Record<string, unknown>)[k];
    let r: unknown;
    if (SECRET_KEY_SET.has(k)) r = x === undefined || x === null ? x : '[REDACTED]';
    else if (URL_KEY_SET.has(k) && typeof x === 'string') r = scrubText(x);
    else r = redact(x, depth + 1);
    if (r !== x) (out ??= { ...(v as Record<string, unknown>) })[k] = r;
  }
  return (out ?? v) as T;
}

/** Every string inside a serialized error (message, stack, cause, a driver's own fields), scrubbed. */
function scrubDeep(v: unknown, depth = 0): unknown {
  if (typeof v === 'string') return scrubText(v);
  if (depth > 6 || v === null || typeof v !== 'object') return v;
  if (Array.isArray(v)) return v.map((x) => scrubDeep(x, depth + 1));
  const out: Record<string, unknown> = {};
  for (const [k, x] of Object.entries(v)) out[k] = SECRET_KEY_SET.has(k) ? '[REDACTED]' : scrubDeep(x, depth + 1);
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
  const logger = pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      formatters: {
        level: (label) => ({ level: label }),
        // Each line's object: secret-named keys blanked, URL passwords masked (child bindings below).
        log: (o) => redact(o),
      },
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
  // pino gives children no bindings formatter: redact their bindings on the way in. Children inherit
  // this method from the root (prototype chain), so grandchildren are covered too.
  const pinoChild = logger.child;
  logger.child = function (this: Logger, bindings: Record<string, unknown>, options?: Parameters<Logger['child']>[1]) {
    return pinoChild.call(this, redact(bindings), options);
  } as Logger['child'];
  return logger;
}
