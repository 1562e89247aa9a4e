import { isDatabaseUnavailable } from '@mcprt/db';
import { appError, type AppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';

/** A dependency the API cannot answer without. */
export type Dependency = 'postgres' | 'redis';

export { isDatabaseUnavailable };

/** The answer a client gets while Postgres is down: specific, retryable, no driver text. */
export function databaseUnavailable(retryAfterS: number, cause?: unknown): AppError {
  return appError('database_unavailable', `Service temporarily unavailable; retry in ${retryAfterS} s`, {
    cause,
    details: { retryAfterSeconds: retryAfterS },
  });
}

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
