import { checkpointTick, type CheckpointerDeps } from '@mcprt/audit';

/**
 * The worker's audit checkpointer: `checkpointTick` of @mcprt/audit (where the sealing lives) every
 * `intervalMs` until stopped; a failed tick is logged and the next one tries again.
 */
export function startCheckpointer(d: CheckpointerDeps & { intervalMs: number }): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  const loop = async () => {
    if (stopped) return;
    running = checkpointTick(d)
      .then((r) => {
        if (r.checkpoints) d.log.info({ ...r }, 'audit checkpoints written');
      })
      .catch((err: unknown) => d.log.warn({ err }, 'audit checkpoint tick failed'));
    await running;
    if (!stopped) timer = setTimeout(() => void loop(), d.intervalMs);
  };
  let timer: NodeJS.Timeout | undefined = setTimeout(() => void loop(), d.intervalMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
