import { retentionTick, type RetentionDeps } from '@mcprt/audit';

/**
 * The worker's retention job: `retentionTick` of @mcprt/audit (where the rules live) every
 * `intervalMs` until stopped; a failed tick is logged and the next one tries again.
 */
export function startRetention(d: RetentionDeps & { intervalMs: number }): { stop(): Promise<void> } {
  let stopped = false;
  let running: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  const loop = async () => {
    if (stopped) return;
    running = retentionTick(d)
      .then((r) => {
        if (r.calls || r.auditRows) d.log.info({ ...r }, 'retention removed expired rows');
      })
      .catch((err: unknown) => d.log.warn({ err }, 'retention tick failed'));
    await running;
    if (!stopped) timer = setTimeout(() => void loop(), d.intervalMs);
  };
  timer = setTimeout(() => void loop(), d.intervalMs);
  return {
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
    },
  };
}
