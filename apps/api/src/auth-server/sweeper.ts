import { startLoop, type Loop, type LoopOptions } from '@mcprt/bootstrap';
import { sweepExpiredOidcRows, type Executor } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';

/**
 * Deletes expired authorization-server rows (codes, sessions, interactions, grants, refresh tokens,
 * registrations given an expiry) every `intervalMs`. Rows are also ignored by `find` once expired, so
 * the sweep only bounds the table. Safe to run in every replica. `sweep` runs one pass now (a failure
 * is logged and counts as none deleted).
 */
export function startOidcSweeper(db: Executor, log: Logger, intervalMs = 60_000, failures?: LoopOptions['failures']): Loop & { sweep(): Promise<number> } {
  const pass = async () => {
    const n = await sweepExpiredOidcRows(db);
    if (n) log.debug({ deleted: n }, 'expired authorization-server rows swept');
    return n;
  };
  const name = 'sweeping expired authorization-server rows';
  const loop = startLoop({ name, intervalMs, run: pass, log, ...(failures ? { failures } : {}) });
  const sweep = () =>
    pass().catch((err: unknown) => {
      log.warn({ err }, `${name} failed`);
      return 0;
    });
  return { stop: () => loop.stop(), sweep };
}
