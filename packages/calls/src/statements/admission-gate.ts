import type postgres from 'postgres';
import { isStatementError } from '@mcprt/db';
import type { ToolCall } from '../schema.js';
import { loadMany } from './read.js';
import { recordMany, type RecordCallInput, type RecordCallResult } from './record.js';

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
 * - Worker (`loadGated`): `pg_advisory_xact_lock_shared` on the same keys, then the load, pipelined
 *   on one reserved connection: the load starts (and takes its snapshot) only after the API's
 *   admission transaction has ended, so it sees the committed row, or no row when the call was not
 *   admitted (the job is then skipped as unknown).
 *
 * A job enqueued by any other path (the reconciler, an approval) names a committed row: no lock is
 * held for it and the worker's shared lock is granted at once.
 */
const ADMISSION = 'mcprt.admission:';

export interface GatedRecordItem {
  tenantId: string;
  c: RecordCallInput;
  /** Called once this call's admission lock is held (possibly again on a one-by-one retry). */
  held?: (() => void) | undefined;
}

/** One item's answer from a gated batch: its result, or the statement error of its own retry. */
export type Settled<T> = { ok: true; value: T } | { ok: false; error: unknown };

export const recordGated =
  (sql: postgres.Sql) =>
  async (items: GatedRecordItem[]): Promise<Settled<RecordCallResult>[]> => {
    const conn = await sql.reserve();
    let unlock: Promise<unknown> | undefined;
    try {
      const ids = items.map((i) => i.c.id);
      const lock = conn`select pg_advisory_lock(hashtextextended(${ADMISSION} || id, 0)) from unnest(${ids}::text[]) as id`.execute();
      const recorded = recordMany(conn)(items);
      recorded.catch(() => undefined); // read below, after the locks are reported held
      // A lone item has no one-by-one retry: its unlock leaves with it and runs right after its
      // commit, without waiting for this process to read the answer (one hop less for the worker).
      unlock = items.length === 1 ? conn`select pg_advisory_unlock_all()`.execute() : undefined;
      unlock?.catch(() => undefined);
      await lock;
      for (const i of items) i.held?.();
      try {
        return (await recorded).map((value) => ({ ok: true as const, value }));
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

export const loadGated =
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
