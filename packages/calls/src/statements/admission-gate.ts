import type postgres from 'postgres';
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
 * - API (`gateLoneCall`): a lone call on an idle API (its record batch has one item and no other
 *   batch of this process is in flight) is recorded on one reserved connection as a session advisory
 *   lock on its id (`pg_advisory_lock`, key `hashtextextended('mcprt.admission:<id>', 0)`), the
 *   record statement and `pg_advisory_unlock_all`, pipelined in that order (each its own implicit
 *   transaction: the unlock runs after the record's commit). `held` is called once the lock is
 *   granted, before the record commits: from then on the job may be enqueued. Any other batch is
 *   recorded as before and its jobs are added after the commit: under load the batches overlap and
 *   share one fsync, and a reserved connection per batch would queue them behind each other (plain
 *   statements are pipelined on busy connections).
 * - Worker (`loadOrWait`): the load as before; for an id it does not find,
 *   `pg_advisory_xact_lock_shared` on the same key, then the load again, pipelined on one reserved
 *   connection: that load starts (and takes its snapshot) only after the API's admission
 *   transaction has ended, so it sees the committed row, or no row when the call was not admitted
 *   (the job is then skipped as unknown).
 *
 * A job enqueued by any other path (after the commit, by the reconciler, after an approval) names a
 * committed row: its first load finds it, and no lock is asked for.
 */
const ADMISSION = 'mcprt.admission:';

export interface GatedRecordItem {
  tenantId: string;
  c: RecordCallInput;
  /** Called once, when this call's admission lock is held: from then on its job may be enqueued. */
  held?: (() => void) | undefined;
}

/** The record batch: a lone call on an idle API behind the gate, any other batch plain. */
export function gateLoneCall(sql: postgres.Sql): (items: GatedRecordItem[]) => Promise<RecordCallResult[]> {
  const plain = recordMany(sql);
  let inFlight = 0;
  return async (items) => {
    inFlight++;
    try {
      const [item] = items;
      if (inFlight > 1 || items.length !== 1 || !item?.held) return await plain(items);
      return [await recordBehindLock(sql, item, item.held)];
    } finally {
      inFlight--;
    }
  };
}

async function recordBehindLock(sql: postgres.Sql, item: GatedRecordItem, held: () => void): Promise<RecordCallResult> {
  const conn = await sql.reserve();
  try {
    // Each query is handed to the connection (`execute`) in the order it must run: lock, record, unlock.
    const lock = conn`select pg_advisory_lock(hashtextextended(${ADMISSION + item.c.id}, 0))`.execute();
    const recorded = recordStatement(conn, [item]).execute();
    const unlock = conn`select pg_advisory_unlock_all()`.execute();
    recorded.catch(() => undefined); // read below, after the lock is reported held
    unlock.catch(() => undefined); // awaited before the connection goes back to the pool
    try {
      await lock;
      held();
      return recordResults((await recorded) as Row[])[0]!;
    } finally {
      await unlock.catch(() => undefined);
    }
  } finally {
    conn.release();
  }
}

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
    const again = new Map((await loadGated(sql, missing)).map((c) => [c?.id, c]));
    return items.map((item, i) => first[i] ?? again.get(item.id));
  };

async function loadGated(sql: postgres.Sql, items: { tenantId: string; id: string }[]): Promise<(ToolCall | undefined)[]> {
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
}
