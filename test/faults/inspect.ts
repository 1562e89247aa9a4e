/**
 * The heap of a process the suite started, read through its inspector (`--inspect=127.0.0.1:0`):
 * a full garbage collection first (`HeapProfiler.collectGarbage`), then `process.memoryUsage()`, so
 * what is left is what the program still references — RSS alone mixes that with V8's free pages
 * and the allocator's fragmentation. Used by the soak only (a forced GC pauses the process).
 */
import type { AppProcess } from '../src/harness/app-process.js';

export const INSPECT_OPTIONS = { NODE_OPTIONS: '--inspect=127.0.0.1:0' } as const;

export interface Inspector {
  /** MB still referenced after a full GC, and the process's external + array buffer MB. */
  heapAfterGc(): Promise<{ heapMb: number; externalMb: number }>;
  close(): void;
}

export async function inspectorOf(p: AppProcess): Promise<Inspector> {
  let url: string | undefined;
  for (let i = 0; i < 100 && !url; i++) {
    url = /Debugger listening on (ws:\/\/\S+)/.exec(p.output())?.[1];
    if (!url) await new Promise((r) => setTimeout(r, 50));
  }
  if (!url) throw new Error('the process printed no inspector URL');
  const ws = new WebSocket(url);
  await new Promise((resolve, reject) => {
    ws.addEventListener('open', resolve, { once: true });
    ws.addEventListener('error', reject, { once: true });
  });
  let next = 0;
  const waiting = new Map<number, (v: { result?: { result?: { value?: unknown } } }) => void>();
  ws.addEventListener('message', (ev) => {
    const msg = JSON.parse(String(ev.data)) as { id?: number; result?: { result?: { value?: unknown } } };
    if (msg.id !== undefined) waiting.get(msg.id)?.(msg);
    if (msg.id !== undefined) waiting.delete(msg.id);
  });
  const send = (method: string, params: Record<string, unknown> = {}) =>
    new Promise<{ result?: { result?: { value?: unknown } } }>((resolve) => {
      const id = ++next;
      waiting.set(id, resolve);
      ws.send(JSON.stringify({ id, method, params }));
    });
  return {
    async heapAfterGc() {
      await send('HeapProfiler.collectGarbage');
      const r = await send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true });
      const m = JSON.parse(String(r.result?.result?.value)) as { heapUsed: number; external: number; arrayBuffers: number };
      return { heapMb: Math.round(m.heapUsed / 1048576), externalMb: Math.round((m.external + m.arrayBuffers) / 1048576) };
    },
    close: () => ws.close(),
  };
}
