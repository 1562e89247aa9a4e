import { z } from 'zod';
import { CALL_STATUSES } from './call-states.js';
import type { ToolCall } from './schema.js';
import { toCall, type Row } from './statements/row.js';

/**
 * Admission notices, the worker's side of the admission gate (statements/admission-gate.ts).
 *
 * A lone call's job is added while its row is being recorded, and the record statement announces
 * the outcome on ADMISSION_CHANNEL (`pg_notify`, which Postgres delivers only once the statement has
 * committed, so only once the row is durable and visible): `<id> <row JSON>` for an admitted call,
 * `<id> +` for one admitted whose row is too large for a notice, `<id> -` for one refused. Every
 * worker process hears every notice and keeps it for a few seconds: a worker that takes such a job
 * finds the committed row here (no read), or waits for the notice when its read comes before the
 * commit.
 */
export const ADMISSION_CHANNEL = 'mcprt_call_admitted';
/** Largest row JSON carried in a notice (NOTIFY payloads must stay under 8000 bytes with the id). */
export const ADMISSION_ROW_MAX_BYTES = 7_900;
/**
 * How long, and how many, notices are kept for jobs not yet taken. A lone call's job reaches a worker
 * within milliseconds of its notice; one that waits longer (a busy queue, another worker took it) is
 * read from the table as any other. Bounded so that notices for other workers' jobs cost little memory.
 */
const KEEP_MS = 2_000;
const KEEP_MAX = 2_000;

/** Subscribes to the notices: `hear(callId, notice)`; returns how to stop. */
export type AdmissionSource = (hear: (callId: string, notice: string) => void) => Promise<{ unlisten(): Promise<void> }>;

/** The columns the worker relies on, checked before an announced row is used (the rest maps as read). */
const announcedRow = z
  .object({
    id: z.string(),
    tenant_id: z.uuid(),
    user_id: z.uuid(),
    client_id: z.string().nullable(),
    tool: z.string(),
    status: z.enum(CALL_STATUSES),
    attempt: z.number().int(),
    created_at: z.string(),
  })
  .loose();

export type Admission = 'admitted' | 'refused';

export class AdmissionWatch {
  readonly #heard = new Map<string, { notice: string; at: number }>();
  readonly #waiters = new Map<string, Set<() => void>>();
  readonly #source: AdmissionSource;
  #listening: Promise<{ unlisten(): Promise<void> } | undefined> | undefined;

  constructor(source: AdmissionSource) {
    this.#source = source;
  }

  /** Start hearing notices (once; the worker calls it at start, a load calls it too). Resolves once listening. */
  start(): Promise<unknown> {
    this.#listening ??= this.#source((id, notice) => this.#hear(id, notice)).catch(() => undefined);
    return this.#listening;
  }

  /**
   * The row of call `id` as its admission committed it, when a notice carried it: once (a second run
   * of the same job reads the row), and only in `tenantId` (a notice is never used across tenants).
   */
  takeRow(tenantId: string, id: string): ToolCall | undefined {
    const h = this.#heard.get(id);
    if (!h || !h.notice.startsWith('{')) return undefined;
    let row: Row;
    try {
      row = announcedRow.parse(JSON.parse(h.notice));
    } catch {
      h.notice = '+'; // admitted all the same: read it
      return undefined;
    }
    // Another tenant's call: not taken (it stays heard as admitted, so nobody waits for it).
    if (row.id !== id || row.tenant_id !== tenantId) return undefined;
    this.#heard.set(id, { notice: '+', at: h.at });
    return toCall(row);
  }

  /** What was heard of call `id`'s admission (undefined: nothing yet). */
  heard(id: string): Admission | undefined {
    const h = this.#heard.get(id);
    return h ? (h.notice === '-' ? 'refused' : 'admitted') : undefined;
  }

  /** Resolves when a notice for `id` is heard, or after `ms`. */
  async next(id: string, ms: number): Promise<void> {
    if (this.#heard.has(id)) return;
    let timer: NodeJS.Timeout | undefined;
    let wake: () => void = () => {};
    const set = this.#waiters.get(id) ?? new Set();
    this.#waiters.set(id, set);
    try {
      await new Promise<void>((resolve) => {
        wake = resolve;
        set.add(wake);
        timer = setTimeout(resolve, ms);
      });
    } finally {
      clearTimeout(timer);
      set.delete(wake);
      if (set.size === 0) this.#waiters.delete(id);
    }
  }

  #hear(id: string, notice: string): void {
    const now = Date.now();
    this.#heard.set(id, { notice, at: now });
    // Oldest first (a Map keeps insertion order): drop what is too old, or too many.
    for (const [k, h] of this.#heard) {
      if (now - h.at <= KEEP_MS && this.#heard.size <= KEEP_MAX) break;
      this.#heard.delete(k);
    }
    for (const wake of this.#waiters.get(id) ?? []) wake();
  }

  async close(): Promise<void> {
    await (await this.#listening)?.unlisten().catch(() => undefined);
  }
}
