/**
 * Group commit for the call path's hot statements. Calls made in the same turn of the event loop
 * (under load: the several requests or jobs one `epoll` wake-up delivers) are sent as one statement
 * over a batch of rows instead of one statement each: one round trip, one plan execution and one
 * commit (one WAL flush) for the whole group. A lone call is sent through `one` (by default, the same
 * statement with one item).
 *
 * Error isolation: when the batch statement itself fails (a Postgres error, e.g. one row breaks a
 * constraint), each item is retried on its own, so only the bad item fails. Connection-level failures
 * are not retried (the batch may have committed before the reply was lost): every caller gets them.
 */
export interface GroupCommitOptions<I, O> {
  /** Several items as one statement; returns one result per item, in order. */
  many(items: I[]): Promise<O[]>;
  /** One item as its own statement (default: `many` with one item). */
  one?(item: I): Promise<O>;
  /** Largest group sent as one statement (default 64). */
  maxBatch?: number;
  /** Items with different keys never share a statement (the call path keys by tenant). */
  key?: (item: I) => string;
}

interface Pending<I, O> {
  item: I;
  resolve(value: O): void;
  reject(reason: unknown): void;
}

/** A Postgres error raised by the statement (SQLSTATE), as opposed to a connection failure (class 08) or a client error. */
function isStatementError(e: unknown): boolean {
  const code = (e as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && !code.startsWith('08') && (e as { name?: string }).name === 'PostgresError';
}

export function groupCommit<I, O>(opts: GroupCommitOptions<I, O>): (item: I) => Promise<O> {
  const maxBatch = opts.maxBatch ?? 64;
  const one =
    opts.one ??
    (async (item: I): Promise<O> => {
      const results = await opts.many([item]);
      if (results.length !== 1) throw new Error(`group commit: ${results.length} results for 1 item`);
      return results[0] as O;
    });
  let queue: Pending<I, O>[] = [];
  let scheduled = false;

  const settleEach = (group: Pending<I, O>[]) => {
    for (const p of group) one(p.item).then(p.resolve, p.reject);
  };

  const run = (group: Pending<I, O>[]) => {
    if (group.length === 1) return settleEach(group);
    opts.many(group.map((p) => p.item)).then(
      (results) => {
        if (results.length !== group.length) {
          const err = new Error(`group commit: ${results.length} results for ${group.length} items`);
          for (const p of group) p.reject(err);
          return;
        }
        group.forEach((p, i) => p.resolve(results[i]!));
      },
      (e: unknown) => {
        if (isStatementError(e)) settleEach(group);
        else for (const p of group) p.reject(e);
      },
    );
  };

  const flush = () => {
    scheduled = false;
    const all = queue;
    queue = [];
    const groups = new Map<string, Pending<I, O>[]>();
    for (const p of all) {
      const k = opts.key ? opts.key(p.item) : '';
      const g = groups.get(k);
      if (g) g.push(p);
      else groups.set(k, [p]);
    }
    for (const g of groups.values()) for (let i = 0; i < g.length; i += maxBatch) run(g.slice(i, i + maxBatch));
  };

  return (item: I) =>
    new Promise<O>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    });
}
