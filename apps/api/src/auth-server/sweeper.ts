import { sweepExpiredOidcRows, type Executor } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';

/**
 * Deletes expired authorization-server rows (codes, sessions, interactions, grants, refresh tokens,
 * registrations given an expiry) every `intervalMs`. Rows are also ignored by `find` once expired, so
 * the sweep only bounds the table. Safe to run in every replica.
 */
export function startOidcSweeper(db: Executor, log: Logger, intervalMs = 60_000): { stop(): void; sweep(): Promise<number> } {
  const sweep = async () => {
    try {
      const n = await sweepExpiredOidcRows(db);
      if (n) log.debug({ deleted: n }, 'expired authorization-server rows swept');
      return n;
    } catch (err) {
      log.warn({ err }, 'sweeping expired authorization-server rows failed');
      return 0;
    }
  };
  const timer = setInterval(() => void sweep(), intervalMs);
  timer.unref();
  return { stop: () => clearInterval(timer), sweep };
}
