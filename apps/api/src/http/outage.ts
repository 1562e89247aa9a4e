import { startLoop, type Loop } from '@mcprt/bootstrap';
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
  readonly #down = new Map<Dependency, { since: number; probe: Loop }>();

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
    // Probe until the dependency answers; a failed probe is the outage going on, not a loop failure.
    const probe = startLoop({
      name: `${dep} probe`,
      intervalMs: this.probeMs,
      log: this.log,
      run: async () => {
        try {
          await this.probes[dep]();
        } catch {
          return;
        }
        void probe.stop();
        this.#down.delete(dep);
        this.log.info({ dependency: dep, downMs: Date.now() - since }, `${dep} reachable again`);
      },
    });
    this.#down.set(dep, { since, probe });
  }

  close(): void {
    for (const { probe } of this.#down.values()) void probe.stop();
    this.#down.clear();
  }
}
