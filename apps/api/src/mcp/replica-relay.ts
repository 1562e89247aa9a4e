import { publish, subscribe, type RedisClient } from '@mcprt/redis';
import type { Logger } from '@mcprt/observability';
import { z } from 'zod';
import type { RequestIdentity } from './request-identity.js';

/**
 * Where a message meant for a request one API replica holds meets it, whichever replica the
 * message's own POST reached. The endpoint is stateless, and two 2025-era messages name a request
 * sent on another POST: a client's answer to a request the API sent it on a tools/call's stream
 * (legacy-input.ts), and its `notifications/cancelled` for a tools/call it still waits on
 * (tools-call.ts). A load balancer may send either to any replica. The replica that takes the
 * message delivers it at once when the request is its own, else publishes it on the relay's Redis
 * channel (sharded on a cluster), which every replica holding such a request listens to.
 *
 * The key — (tenant, user, OAuth client, id), `relayKey` — is made from the message's own POST and
 * its verified token, so a message only meets a request of the same user through the same app,
 * whichever replica holds it. A replica subscribes the first time it holds a request, on one
 * subscriber connection its relays share (kept): replicas and requests that never hold one pay
 * nothing, and nothing is published while the request is held here. Each message is checked on
 * arrival with the relay's schema; a malformed one is dropped and logged.
 */
export class ReplicaRelay<T extends object> {
  readonly #held = new Map<string, (m: T) => unknown>();
  #subscribed: Promise<unknown> | undefined;

  constructor(
    private readonly o: {
      /** Publishes. */
      redis: RedisClient;
      /** The subscriber connection (opened at the first hold; shared by the process's relays, closed by their owner). */
      subscriber: () => RedisClient;
      channel: string;
      /** The message without its key, as it may arrive from any replica. */
      schema: z.ZodType<T>;
      /** What the messages are, for the log. */
      what: string;
      log: Pick<Logger, 'warn'>;
    },
  ) {}

  /**
   * Hold `key`: each message routed to it (here or at another replica) goes to `deliver`, until
   * `release` (call it when the request ends): one a request refuses does not use it up. The subscription is
   * made in the background: a request is never held up by Redis (while it is away, only messages
   * that reach this replica find the request).
   */
  hold(key: string, deliver: (m: T) => unknown): () => void {
    void this.#listen();
    this.#held.set(key, deliver);
    return () => void (this.#held.get(key) === deliver && this.#held.delete(key));
  }

  /** Wait for the first message to `key`, once this replica listens (hold it before the request it answers is sent). */
  async expect(key: string): Promise<{ message: Promise<T>; release(): void }> {
    let release!: () => void;
    const message = new Promise<T>((resolve) => {
      release = this.hold(key, (m) => {
        release();
        resolve(m);
      });
    });
    await this.#listen();
    return { message, release };
  }

  /**
   * A message that reached this replica: delivered here when this replica holds its key (resolving
   * once `deliver` has done its work), else published for the replica that does.
   */
  async route(key: string, m: T): Promise<void> {
    const deliver = this.#held.get(key);
    if (deliver) await deliver(m);
    else await publish(this.o.redis, this.o.channel, JSON.stringify({ ...m, key }));
  }

  #listen(): Promise<unknown> {
    this.#subscribed ??= subscribe(this.o.subscriber(), this.o.channel, (raw) => this.#arrived(raw)).catch((e: unknown) => {
      this.#subscribed = undefined; // the next hold tries again; this one still gets what reaches this replica
      this.o.log.warn({ err: e, channel: this.o.channel }, `${this.o.what} relay: subscription failed`);
    });
    return this.#subscribed;
  }

  #arrived(raw: string): void {
    const json = safeJson(raw);
    const key = relayedKey.safeParse((json as { key?: unknown } | undefined)?.key);
    const { key: _, ...rest } = (typeof json === 'object' && json !== null ? json : {}) as Record<string, unknown>;
    const m = key.success ? this.o.schema.safeParse(rest) : undefined;
    if (!key.success || !m?.success) return this.o.log.warn({ channel: this.o.channel }, `malformed ${this.o.what} on the relay channel: dropped`);
    const deliver = this.#held.get(key.data);
    if (deliver) void Promise.resolve(deliver(m.data)).catch((e: unknown) => this.o.log.warn({ err: e }, `${this.o.what} relay: delivery failed`));
  }
}

/** Two UUIDs, a client id (a metadata document URL may take 2 000 characters) and a request id. */
const relayedKey = z.string().max(4_096);

/** The key of a relayed message: the identity of the POST it came with, and the id it names. */
export const relayKey = (who: Pick<RequestIdentity, 'tenant' | 'user' | 'token'>, id: string) =>
  `${who.tenant.id}:${who.user.id}:${who.token.clientId ?? ''}:${id}`;

/** One subscriber connection for the process's relays, opened at the first use; `close` quits it. */
export function sharedSubscriber(open: () => RedisClient): { get: () => RedisClient; close(): Promise<void> } {
  let sub: RedisClient | undefined;
  return {
    get: () => (sub ??= open()),
    close: async () => void (await sub?.quit().catch(() => undefined)),
  };
}

function safeJson(raw: string): unknown {
  try {
    return JSON.parse(raw);
  } catch {
    return undefined;
  }
}
