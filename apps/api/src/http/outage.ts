import { AppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';

/** A dependency the API cannot answer without. */
export type Dependency = 'postgres' | 'redis';

/** Node socket errors and postgres.js connection errors: the server is unreachable, not the query wrong. */
const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
]);

/**
 * Whether `e` (or anything in its cause chain: Drizzle wraps driver errors) says Postgres is
 * unreachable or refusing work for now: a socket failure, SQLSTATE class 08 (connection exception),
 * 57P01–57P03 (shutdown, crash recovery), 53300 (too many connections).
 */
export function isDatabaseUnavailable(e: unknown): boolean {
  for (let cur: unknown = e, depth = 0; cur && typeof cur === 'object' && depth < 5; cur = (cur as { cause?: unknown }).cause, depth++) {
    if (cur instanceof AppError) return cur.code === 'database_unavailable';
    const code = (cur as { code?: unknown }).code;
    if (typeof code !== 'string') continue;
    if (CONNECTION_CODES.has(code) || code.startsWith('08') || code === '57P01' || code === '57P02' || code === '57P03' || code === '53300') return true;
  }
  return false;
}

/** The answer a client gets while a dependency is down: specific, retryable, no driver text. */
export function unavailableError(dep: Dependency, retryAfterS: number, cause?: unknown): AppError {
  return new AppError('unavailable', `${dep === 'postgres' ? 'database' : 'queue'}_unavailable`, `Service temporarily unavailable; retry in ${retryAfterS} s`, {
    status: 503,
    expose: true,
    retryable: true,
    cause,
    details: { retryAfterSeconds: retryAfterS },
  });
}

/** JSON-RPC code of the "temporarily unavailable" error (implementation-defined server range). */
export const UNAVAILABLE_RPC_CODE = -32053;

/**
 * Logs an outage once: the first failure (warn), then nothing per request until a probe succeeds
 * (info, with how long it lasted). Probing is this tracker's own, every `probeMs` while down.
 */
export class OutageLog {
  readonly #down = new Map<Dependency, { since: number; timer: NodeJS.Timeout }>();

  constructor(
    private readonly log: Logger,
    private readonly probes: Record<Dependency, () => Promise<unknown>>,
    private readonly probeMs = 1_000,
  ) {}

  isDown(dep: Dependency): boolean {
    return this.#down.has(dep);
  }

  report(dep: Dependency, err: unknown): void {
    if (this.#down.has(dep)) return;
    const code = (err as { code?: unknown } | null)?.code;
    this.log.warn(
      { dependency: dep, code: typeof code === 'string' ? code : undefined },
      `${dep} unreachable: answering 503 / retryable errors until it is back`,
    );
    const since = Date.now();
    let probing = false;
    const timer = setInterval(() => {
      if (probing) return;
      probing = true;
      this.probes[dep]()
        .then(() => {
          clearInterval(timer);
          this.#down.delete(dep);
          this.log.info({ dependency: dep, downMs: Date.now() - since }, `${dep} reachable again`);
        })
        .catch(() => undefined)
        .finally(() => (probing = false));
    }, this.probeMs);
    timer.unref();
    this.#down.set(dep, { since, timer });
  }

  close(): void {
    for (const { timer } of this.#down.values()) clearInterval(timer);
    this.#down.clear();
  }
}
