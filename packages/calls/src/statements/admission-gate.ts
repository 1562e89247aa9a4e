import type postgres from 'postgres';
import { isStatementError } from '@mcprt/db';
import type { ToolCall } from '../schema.js';
import { loadMany } from './read.js';
import { recordMany, recordResults, recordStatement, type RecordCallInput, type RecordCallResult } from './record.js';
import type { Row } from './row.js';

/**
 * The admission gate: lets the API put a call's job on the queue while the call's row is still being
 * committed, without any worker ever running a call whose admission is not committed (and so durable:
 * with `synchronous_commit = on` a transaction is visible to others only after its commit record is
 * flushed).
 *
 * - API (`recordGated`): on one reserved connection, a session advisory lock per call id
 *   (`pg_advisory_lock`, the key `hashtextextended('mcprt.admission:<id>', 0)`), then the record
 *   statement, pipelined. `held` is called once the locks are granted, before the record commits:
 *   from then on the job may be enqueued. The locks are released (`pg_advisory_unlock_all`) only
 *   when every item has its final answer, including the one-by-one retry of a batch that failed, so
 *   no worker passes the gate between a failed batch and the retry that records its good items; a
 *   lone item (no retry) sends its unlock in the same pipeline.
 * - Worker (`loadOrWait`): the load as before; for an id it does not find,
 *   `pg_advisory_xact_lock_shared` on the same key, then the load again, pipelined on one reserved
 *   connection: that load starts (and takes its snapshot) only after the API's admission
 *   transaction has ended, so it sees the committed row, or no row when the call was not admitted
 *   (the job is then skipped as unknown).
 *
 * Only an idle API gates (`gateWhenIdle`): when no other record batch of this process is in flight.
 * Under load the batches overlap, a reserved connection per batch would queue them behind each other
 * (plain statements are pipelined on busy connections), and the job is added after the commit as
 * before; the gate is for the latency of a lone call, where the fsync is the largest wait.
 *
 * A job enqueued by any other path (the reconciler, an approval) names a committed row: no lock is
 * held for it and the worker's shared lock is granted at once.
 */
const ADMISSION = 'mcprt.admission:';

export interface GatedRecordItem {
  tenantId: string;
  c: RecordCallInput;
  /** Called once, when this call's admission lock is held: from then on its job may be enqueued. */
  held?: (() => void) | undefined;
}

/** One item's answer from a gated batch: its result, or the statement error of its own retry. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

const recordGated =
  (sql: postgres.Sql) =>
  async (items: GatedRecordItem[]): Promise<Settled<RecordCallResult>[]> => {
    const conn = await sql.reserve();
    let unlock: Promise<unknown> | undefined;
    try {
      const ids = items.map((i) => i.c.id);
      const lock = conn`select pg_advisory_lock(hashtextextended(${ADMISSION} || id, 0)) from unnest(${ids}::text[]) as id`.execute();
      // Each query is handed to the connection (`execute`) in the order it must run: lock, record, unlock.
      const recorded = recordStatement(conn, items).execute();
      recorded.catch(() => undefined); // read below, after the locks are reported held
      // A lone item has no one-by-one retry: its unlock leaves with it and runs right after its
      // commit, without waiting for this process to read the answer (one hop less for the worker).
      unlock = items.length === 1 ? conn`select pg_advisory_unlock_all()`.execute() : undefined;
      unlock?.catch(() => undefined);
      await lock;
      for (const i of items) i.held?.();
      try {
        return recordResults((await recorded) as Row[]).map((value) => ({ ok: true as const, value }));
      } catch (e) {
        // One bad row fails the batch statement: each item alone, still under the locks.
        if (!isStatementError(e) || items.length === 1) throw e;
        const out: Settled<RecordCallResult>[] = [];
        for (const item of items) {
          try {
            const [value] = await recordMany(conn)([item]);
            out.push({ ok: true, value: value! });
          } catch (err) {
            if (!isStatementError(err)) throw err;
            out.push({ ok: false, error: err });
          }
        }
        return out;
      }
    } finally {
      await (unlock ?? conn`select pg_advisory_unlock_all()`).catch(() => undefined);
      conn.release();
    }
  };

/**
 * The worker's load: first as before (one statement, no lock: the row of a job that waited in the
 * queue is long committed); only the ids it did not find go through the gate and are read again.
 */
export const loadOrWait =
  (sql: postgres.Sql) =>
  async (items: { tenantId: string; id: string }[]): Promise<(ToolCall | undefined)[]> => {
    const first = await loadMany(sql)(items);
    const missing = items.filter((_, i) => first[i] === undefined);
    if (missing.length === 0) return first;
    const again = new Map((await loadGated(sql)(missing)).map((c) => [c?.id, c]));
    return items.map((item, i) => first[i] ?? again.get(item.id));
  };

const loadGated =
  (sql: postgres.Sql) =>
  async (items: { tenantId: string; id: string }[]): Promise<(ToolCall | undefined)[]> => {
    const conn = await sql.reserve();
    try {
      const ids = items.map((i) => i.id);
      const gate = conn`select pg_advisory_xact_lock_shared(hashtextextended(${ADMISSION} || id, 0)) from unnest(${ids}::text[]) as id`.execute();
      const rows = loadMany(conn)(items);
      rows.catch(() => undefined); // awaited below
      await gate;
      return await rows;
    } finally {
      conn.release();
    }
  };

/** The record batch: behind the gate when it is the only one of this process in flight, plain otherwise. */
export function gateWhenIdle(sql: postgres.Sql): (items: GatedRecordItem[]) => Promise<Settled<RecordCallResult>[]> {
  const gated = recordGated(sql);
  const plain = recordMany(sql);
  let inFlight = 0;
  return async (items) => {
    inFlight++;
    try {
      if (inFlight === 1) return await gated(items);
      return (await plain(items)).map((value) => ({ ok: true as const, value }));
    } finally {
      inFlight--;
    }
  };
}
