import { publish, subscribe, type RedisClient } from '@mcprt/redis';
import type { Logger } from '@mcprt/observability';
import { z } from 'zod';

/**
 * Where a 2025-11-25 client's answer to a request the API sent it on a tools/call's stream
 * (legacy-input.ts) meets the request waiting for it. The endpoint is stateless, so the answer's POST
 * may reach any API replica: the replica that takes it hands it over at once when the waiting request
 * is its own, else publishes it on one Redis channel (sharded on a cluster) that every replica
 * waiting for an answer listens to. The key — (tenant, user, OAuth client, request id) — is made from
 * the answering POST's own verified token, so an answer can only meet a request of the same user
 * through the same app, whichever replica holds it. A replica subscribes the first time it waits
 * (one connection of its own, kept): replicas and requests that never ask for input pay nothing.
 */
export class InputAnswerRelay {
  readonly #waiting = new Map<string, (a: InputAnswer) => void>();
  #subscribed: Promise<unknown> | undefined;
  #sub: RedisClient | undefined;

  /** `redis` publishes; `subscriber()` opens the connection this replica listens on (once, at its first wait). */
  constructor(
    private readonly redis: RedisClient,
    private readonly subscriber: () => RedisClient,
    private readonly channel: string,
    private readonly log: Pick<Logger, 'warn'>,
  ) {}

  /** Wait for the answer to `key` (register before the request is sent). `cancel` stops waiting. */
  async expect(key: string): Promise<{ answer: Promise<InputAnswer>; cancel(): void }> {
    await this.#listen();
    let settle!: (a: InputAnswer) => void;
    const answer = new Promise<InputAnswer>((resolve) => (settle = resolve));
    this.#waiting.set(key, settle);
    return { answer, cancel: () => this.#waiting.get(key) === settle && this.#waiting.delete(key) };
  }

  /** An answer that reached this replica: handed over here, or published for the replica that waits. */
  async route(key: string, a: InputAnswer): Promise<void> {
    if (this.#deliver(key, a)) return;
    await publish(this.redis, this.channel, JSON.stringify({ key, ...a }));
  }

  #deliver(key: string, a: InputAnswer): boolean {
    const settle = this.#waiting.get(key);
    if (!settle) return false;
    this.#waiting.delete(key);
    settle(a);
    return true;
  }

  #listen(): Promise<unknown> {
    this.#subscribed ??= (async () => {
      const sub = (this.#sub ??= this.subscriber());
      await subscribe(sub, this.channel, (raw) => {
        const m = relayed.safeParse(safeJson(raw));
        if (!m.success) return this.log.warn({ channel: this.channel }, 'malformed input answer on the relay channel: dropped');
        const { key, ...a } = m.data;
        this.#deliver(key, a);
      });
    })().catch((e: unknown) => {
      this.#subscribed = undefined; // the next wait tries again; this one still gets answers that reach this replica
      this.log.warn({ err: e }, 'input answer relay: subscription failed');
    });
    return this.#subscribed;
  }

  async close(): Promise<void> {
    await this.#sub?.quit().catch(() => undefined);
  }
}

/** A client's answer: its `result`, or the message of its JSON-RPC error. */
export type InputAnswer = { result: unknown } | { error: string };

const relayed = z.union([
  z.object({ key: z.string().max(400), result: z.unknown() }).strict(),
  z.object({ key: z.string().max(400), error: z.string().max(200) }).strict(),
]);

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
