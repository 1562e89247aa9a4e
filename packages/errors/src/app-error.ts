/**
 * The small family of coded errors every package throws; each code is listed once in the catalogue
 * (catalogue.ts) with its status, safe message and retryability.
 *
 * Each error knows:
 * - `code`: stable, machine-readable, safe to show;
 * - `status`: the HTTP status an adapter answers with;
 * - `expose`: whether `message` is safe to show a client (Koa's convention: status < 500);
 * - `retryable`: whether a queued job failing with it should be tried again.
 *
 * Library errors are translated at the boundary into one of these, keeping `cause`.
 */
export type ErrorKind = 'auth' | 'policy' | 'validation' | 'upstream' | 'unavailable' | 'not_found' | 'internal';

export interface AppErrorOptions {
  status?: number;
  retryable?: boolean;
  expose?: boolean;
  cause?: unknown;
  /** Extra fields that are safe to show (e.g. the failing field name, a reconnect URL). */
  details?: Record<string, unknown>;
}

const defaultStatus: Record<ErrorKind, number> = {
  auth: 401,
  policy: 403,
  validation: 400,
  upstream: 502,
  unavailable: 503,
  not_found: 404,
  internal: 500,
};

export class AppError extends Error {
  readonly kind: ErrorKind;
  readonly code: string;
  readonly status: number;
  readonly expose: boolean;
  readonly retryable: boolean;
  readonly details: Record<string, unknown> | undefined;

  constructor(kind: ErrorKind, code: string, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.kind = kind;
    this.code = code;
    this.status = options.status ?? defaultStatus[kind];
    this.expose = options.expose ?? this.status < 500;
    this.retryable = options.retryable ?? false;
    this.details = options.details;
  }

  /** What a client may see. 5xx details never leave the process. */
  toPublic(): { code: string; message: string; details?: Record<string, unknown> } {
    if (!this.expose) return { code: this.code, message: 'internal error' };
    return this.details ? { code: this.code, message: this.message, details: this.details } : { code: this.code, message: this.message };
  }
}

export const isAppError = (e: unknown): e is AppError => e instanceof AppError;

/** Wrap anything thrown into an AppError without losing the original. */
export function toAppError(e: unknown): AppError {
  if (isAppError(e)) return e;
  return new AppError('internal', 'internal_error', e instanceof Error ? e.message : String(e), { cause: e, expose: false });
}
