import { pino, type Logger } from 'pino';

export type { Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log object (DESIGN §5: tokens are never logged).
 * Bindings we attach ourselves never carry tokens; this is the net under mistakes.
 */
export const REDACT_PATHS = [
  'token',
  'accessToken',
  'refreshToken',
  'access_token',
  'refresh_token',
  'sealed',
  'sealedToken',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'res.headers["set-cookie"]',
  '*.token',
  '*.accessToken',
  '*.refreshToken',
  '*.access_token',
  '*.refresh_token',
  '*.sealed',
  '*.sealedToken',
  '*.authorization',
  'clientSecret',
  '*.clientSecret',
  'apiKey',
  '*.apiKey',
];

/** Bearer tokens and JWTs that slip into free text (an error message, say) are masked too. */
const TOKEN_IN_TEXT = /(Bearer\s+)[A-Za-z0-9._~+/-]+=*|eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]+/g;
export const scrubText = (s: string): string => s.replace(TOKEN_IN_TEXT, (_m, bearer?: string) => (bearer ? `${bearer}[REDACTED]` : '[REDACTED]'));

export interface LoggerOptions {
  level?: string;
  name: string;
  /** Where lines go; tests pass a stream to read what was logged. */
  destination?: pino.DestinationStream;
}

export function createLogger(opts: LoggerOptions): Logger {
  return pino(
    {
      name: opts.name,
      level: opts.level ?? 'info',
      redact: { paths: REDACT_PATHS, censor: '[REDACTED]' },
      formatters: { level: (label) => ({ level: label }) },
      hooks: {
        // Free-text arguments are scrubbed of anything token-shaped.
        logMethod(args, method) {
          method.apply(this, args.map((a) => (typeof a === 'string' ? scrubText(a) : a)) as Parameters<typeof method>);
        },
      },
      serializers: {
        err: (e: unknown) => {
          const s = pino.stdSerializers.err(e as Error);
          if (s.message) s.message = scrubText(s.message);
          if (s.stack) s.stack = scrubText(s.stack);
          return s;
        },
      },
    },
    // Default: stdout, written asynchronously so a busy process does not block on one write(2) per
    // line; lines queued while a write is in flight go out together. Apps flush before exiting.
    opts.destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
