import { isAppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';

/** A started process as its entry point sees it. */
export interface RunningProcess {
  resources: { log: Logger };
  /** The graceful stop (drain): resolves once the process may exit. */
  stop(): Promise<void>;
}

/**
 * An entry point: start the process, and on the first SIGTERM or SIGINT run its graceful stop and
 * exit 0 (1 if the stop fails). A second signal while stopping is ignored. A start that fails rejects
 * (the process exits non-zero before taking any work; an AppError prints its code and message only).
 */
export async function runMain(start: () => Promise<RunningProcess>, lines: { stopping: string; stopped?: string }): Promise<void> {
  const running = await start().catch((e: unknown) => {
    // A refusal to start from the catalogue (e.g. keyring_mismatch) is the operator's to read: its
    // message says why and what to do, without a stack trace around it.
    if (!isAppError(e)) throw e;
    process.stderr.write(`\n${e.code}: ${e.message}\n\n`);
    process.exit(1);
  });
  const log = running.resources.log;
  let stopping = false;
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      log.info({ signal }, lines.stopping);
      running
        .stop()
        .then(() => {
          if (lines.stopped) log.info(lines.stopped);
          log.flush();
          process.exit(0);
        })
        .catch((err: unknown) => {
          log.error({ err }, 'graceful stop failed');
          log.flush();
          process.exit(1);
        });
    });
  }
}
