import type postgres from 'postgres';
import { PENDING_STATUSES } from '../call-states.js';
import { ADMISSION_CHANNEL, type AdmissionWatch } from '../admissions.js';
import type { ToolCall } from '../schema.js';
import { byId, loadMany } from './read.js';
import { recordMany, recordResults, recordStatement, type RecordCallInput, type RecordCallResult } from './record.js';
import type { Row } from './row.js';

/**
 * The admission gate: lets the API put a call's job on the queue while the call's row is still being
 * recorded, without any worker ever running a call whose admission is not committed (and so durable:
 * with `synchronous_commit = on` a transaction is visible to others only after its commit record is
 * flushed, and a notification is delivered only after its transaction is visible).
 *
 * - API (`gateLoneCall`): a lone call on an idle API (its record batch has one item and no other
 *   batch of this process is in flight) is told `held` at once — its job is added beside the record
 *   statement, not after it — and its record statement announces the outcome when it commits
 *   (admissions.ts: the committed row, or "refused"). Any other batch is recorded as before and its
 *   jobs are added after the commit: under load the batches overlap and share one fsync.
 * - Worker (`loadOrWait`): a call announced moments ago is taken from its notice, as committed (no
 *   read); a job that says it was added through the gate (names.ts, `jobName`) and whose notice has
 *   not come yet waits for it, since a read before the commit cannot find the row; any other is read
 *   as pending calls are. A call not found, and not heard of, is
 *   waited for: until its notice (admitted: taken or read; refused: none) or, with nothing heard after
 *   a moment, read (any status: a row that exists but is final is not waited for — a duplicate job
 *   after the result) and read again at growing intervals up to ADMISSION_WAIT_MS, then taken as unknown.
 *
 * A job enqueued by any other path (after the commit, by the reconciler, after an approval) names a
 * committed row: its read finds it at once.
 */
export interface GatedRecordItem {
  tenantId: string;
  c: RecordCallInput;
  /** Called once, as the record leaves: from then on its job may be enqueued. */
  held?: (() => void) | undefined;
}

/** The longest a worker waits for the row of a job it took before the row's admission committed. */
export const ADMISSION_WAIT_MS = 5_000;
/** The first wait for a notice before a read, for a job not known to come through the gate. */
const FIRST_RECHECK_MS = 5;
/**
 * The same for a job added through the gate: its notice is due, and a read before the commit finds
 * nothing while it queues for a pooled connection (behind a busy worker's statements, that is the
 * whole wait). The notice wakes the wait the moment it arrives, so this costs only when the notice
 * is lost (a LISTEN connection reconnecting, a record that failed).
 */
const ANNOUNCED_FIRST_RECHECK_MS = 100;

/** The record batch: a lone call on an idle API through the gate, any other batch plain. */
export function gateLoneCall(sql: postgres.Sql): (items: GatedRecordItem[]) => Promise<RecordCallResult[]> {
  const plain = recordMany(sql);
  let inFlight = 0;
  return async (items) => {
    inFlight++;
    try {
      const [item] = items;
      if (inFlight > 1 || items.length !== 1 || !item?.held) return await plain(items);
      const recorded = recordStatement(sql, [item], true).execute();
      recorded.catch(() => undefined); // awaited below; never an unhandled rejection meanwhile
      // The statement is on the wire before the job's add runs: postgres.js writes in the event
      // loop's check phase, and the add's own work (building and sending the job) would otherwise
      // run first and hold the record back, while the row's notice is what the worker waits for.
      await afterPendingWrites();
      item.held();
      return recordResults((await recorded) as Row[]);
    } finally {
      inFlight--;
    }
  };
}

const PENDING = new Set<string>(PENDING_STATUSES);

/** Resolves once every write queued for this loop turn's check phase (postgres.js's, Redis') has run. */
const afterPendingWrites = () => new Promise<void>((resolve) => setImmediate(() => setImmediate(resolve)));

/** The worker's load through the gate (see above); `waitMs` is ADMISSION_WAIT_MS but for tests. */
export const loadOrWait =
  (sql: postgres.Sql, watch: AdmissionWatch, waitMs = ADMISSION_WAIT_MS) =>
  async (items: { tenantId: string; id: string; announced?: boolean }[]): Promise<(ToolCall | undefined)[]> => {
    void watch.start();
    const out = items.map((i) => watch.takeRow(i.tenantId, i.id));
    // An announced job not heard of yet is not read: its row is not committed, the notice brings it.
    const toRead = items.filter((i, k) => out[k] === undefined && !i.announced);
    const read = toRead.length > 0 ? await loadMany(sql)(toRead) : [];
    const found = new Map(toRead.map((i, k) => [i.id, read[k]]));
    const missing = items.filter((i, k) => out[k] === undefined && found.get(i.id) === undefined);
    for (const [id, call] of await Promise.all(missing.map(async (i) => [i.id, await waitForRow(sql, watch, i, waitMs, i.announced)] as const)))
      found.set(id, call);
    return items.map((i, k) => out[k] ?? found.get(i.id));
  };

/**
 * A job whose call is not pending in the table: its notice (refused: none; admitted: the row), or,
 * with nothing heard after a moment, a read of any status (a final row ends it: a duplicate job after
 * the result) and then reads at growing intervals until `waitMs`.
 */
async function waitForRow(
  sql: postgres.Sql,
  watch: AdmissionWatch,
  item: { tenantId: string; id: string },
  waitMs: number,
  announced = false,
): Promise<ToolCall | undefined> {
  const deadline = Date.now() + waitMs;
  for (let step = announced ? ANNOUNCED_FIRST_RECHECK_MS : FIRST_RECHECK_MS; ; step *= 2) {
    await watch.next(item.id, Math.min(step, Math.max(0, deadline - Date.now())));
    const heard = watch.heard(item.id);
    if (heard === 'refused') return undefined;
    // Admitted: the row from the notice, else read (a notice is never used across tenants: then nothing).
    if (heard === 'admitted') return watch.takeRow(item.tenantId, item.id) ?? (await loadMany(sql)([item]))[0];
    const call = await byId(sql, item.tenantId, item.id);
    if (call) return PENDING.has(call.status) ? call : undefined;
    if (Date.now() >= deadline) return undefined;
  }
}

/** Hear ADMISSION_CHANNEL (`<call id> <notice>`) on the connection postgres.js keeps for LISTEN. */
export async function onAdmission(sql: postgres.Sql, hear: (callId: string, notice: string) => void): Promise<{ unlisten(): Promise<void> }> {
  const sub = await sql.listen(ADMISSION_CHANNEL, (payload) => {
    const sp = payload.indexOf(' ');
    if (sp > 0) hear(payload.slice(0, sp), payload.slice(sp + 1));
  });
  return { unlisten: () => sub.unlisten() };
}
