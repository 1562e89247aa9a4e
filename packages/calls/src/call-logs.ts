import { toolLogMessageSchema, type ToolLogMessage } from '@mcprt/tools';

type Source = (fn: (callId: string, tenantId: string, json: string) => void) => Promise<{ unlisten(): Promise<void> }>;

/**
 * API side: the log messages of the calls this process's requests follow (statements/call-log.ts).
 * Every replica hears every message; one nobody here follows is dropped, except that the last few
 * seconds are kept for calls not followed yet — a worker can start a call, and its tool log, before
 * the request that made it has the id back from its own commit. A message is passed on only for the
 * tenant it names and the follower's tenant, and only if it parses.
 */
export class CallLogFollower {
  readonly #followers = new Map<string, { tenantId: string; fn: (m: ToolLogMessage) => void }>();
  readonly #early = new Map<string, { at: number; tenantId: string; json: string[] }>();
  readonly #listening: Promise<{ unlisten(): Promise<void> } | undefined>;

  constructor(source: Source) {
    this.#listening = source((callId, tenantId, json) => {
      const f = this.#followers.get(callId);
      if (f) {
        if (f.tenantId === tenantId) deliver(f.fn, json);
      } else this.#remember(callId, tenantId, json);
    }).catch(() => undefined); // no listener: calls run as ever, their messages are not passed on
  }

  /** Pass the call's messages (those that came early first) to `fn` until the returned stop is called. */
  follow(tenantId: string, callId: string, fn: (m: ToolLogMessage) => void): () => void {
    const early = this.#early.get(callId);
    this.#early.delete(callId);
    if (early && early.tenantId === tenantId) for (const json of early.json) deliver(fn, json);
    const entry = { tenantId, fn };
    this.#followers.set(callId, entry);
    return () => {
      if (this.#followers.get(callId) === entry) this.#followers.delete(callId);
    };
  }

  #remember(callId: string, tenantId: string, json: string): void {
    const now = Date.now();
    const e = this.#early.get(callId) ?? { at: now, tenantId, json: [] };
    if (e.json.length < 50) e.json.push(json);
    this.#early.set(callId, e);
    if (this.#early.size > 200) for (const [id, x] of this.#early) if (now - x.at > 5_000 || this.#early.size > 1_000) this.#early.delete(id);
  }

  async close(): Promise<void> {
    await (await this.#listening)?.unlisten().catch(() => undefined);
  }
}

function deliver(fn: (m: ToolLogMessage) => void, json: string): void {
  let raw: unknown;
  try {
    raw = JSON.parse(json);
  } catch {
    return;
  }
  const m = toolLogMessageSchema.safeParse(raw);
  if (m.success) fn(m.data);
}
