/**
 * The states of a tool call and the moves between them, defined here only. The Drizzle enum and the
 * partial index of pending calls (schema.ts), every SQL fence (`status in (...)` in the statements),
 * the TypeScript types and `isFinal` are derived from this table; call-states.test.ts compares it
 * with the live database (the enum's values and the index predicates), so a drift fails.
 *
 * Pure on purpose (no imports): the schema, the statements and the policy of every surface read it.
 */
export const CALL_STATES = {
  /** Recorded (row + `accepted` audit row), its job in the queue or about to be. */
  queued: { pending: true, final: false },
  /** A worker's attempt owns it (shown only for runs longer than a moment, or waiting for a retry). */
  running: { pending: true, final: false },
  /**
   * Recorded, and waiting for a person to approve it (the tenant's approval rules): neither pending
   * (no worker may touch it, nothing enqueues it, it is not in the pending index) nor final (it can
   * still be approved, denied, expire or be cancelled). Approval moves it to `queued`.
   */
  awaiting_approval: { pending: false, final: false },
  /**
   * Recorded as a task, and waiting for its client's answers to the tool's input requests (MCP
   * multi-round-trip requests through `tasks/update`): like `awaiting_approval`, neither pending nor
   * final. The last answer moves it to `queued`.
   */
  awaiting_input: { pending: false, final: false },
  succeeded: { pending: false, final: true },
  failed: { pending: false, final: true },
  cancelled: { pending: false, final: true },
} as const satisfies Record<string, { pending: boolean; final: boolean }>;

export type CallStatus = keyof typeof CALL_STATES;
export type PendingStatus = { [S in CallStatus]: (typeof CALL_STATES)[S]['pending'] extends true ? S : never }[CallStatus];
export type FinalStatus = Exclude<CallStatus, PendingStatus>;

/**
 * The moves a fenced statement may make (from → to). A final state has none: nothing overwrites a
 * final call. `running → queued` is the reconciler's requeue of a run whose job was lost; `queued →
 * queued` / `running → running` are an attempt re-marking the row it owns.
 */
export const CALL_TRANSITIONS: { readonly [S in CallStatus]: readonly CallStatus[] } = {
  queued: ['running', 'succeeded', 'failed', 'cancelled'],
  running: ['running', 'queued', 'succeeded', 'failed', 'cancelled'],
  /** Approved → queued; denied or expired → failed; or cancelled. Never straight to running: only a queued call gets a job. */
  awaiting_approval: ['queued', 'failed', 'cancelled'],
  /** Every answer in → queued; or cancelled (never straight to running, as above). */
  awaiting_input: ['queued', 'failed', 'cancelled'],
  succeeded: [],
  failed: [],
  cancelled: [],
};

/** Every status, in the order of the database enum. */
export const CALL_STATUSES = Object.keys(CALL_STATES) as [CallStatus, ...CallStatus[]];
export const PENDING_STATUSES = CALL_STATUSES.filter((s) => CALL_STATES[s].pending) as [PendingStatus, ...PendingStatus[]];
export const FINAL_STATUSES = CALL_STATUSES.filter((s) => CALL_STATES[s].final) as [FinalStatus, ...FinalStatus[]];
/** Not final: pending, or waiting for approval (what a cancel may still stop). */
export const OPEN_STATUSES = CALL_STATUSES.filter((s) => !CALL_STATES[s].final) as [CallStatus, ...CallStatus[]];

export const isFinal = (c: { status: CallStatus }): boolean => CALL_STATES[c.status].final;
export const isPending = (c: { status: CallStatus }): boolean => CALL_STATES[c.status].pending;
export const canMove = (from: CallStatus, to: CallStatus): boolean => CALL_TRANSITIONS[from].includes(to);

/** `'a', 'b'`: a status list as SQL literals (the values are this module's own constants, never input). */
const literals = (list: readonly string[]): string => list.map((s) => `'${s}'`).join(', ');

/**
 * `status in ('queued', 'running')`: the pending fence, as literal SQL text for the statements and
 * the partial index `tool_calls_user_pending` (literals, not parameters: Postgres uses a partial
 * index only for a query whose own predicate proves the index's). `column` qualifies it
 * (`t.status`) inside a statement that joins.
 */
export const pendingSql = (column = 'status'): string => `${column} in (${literals(PENDING_STATUSES)})`;
export const PENDING_SQL = pendingSql();
/** `status in ('queued', 'running', 'awaiting_approval')`: the fence of a cancel (any call not final). */
export const openSql = (column = 'status'): string => `${column} in (${literals(OPEN_STATUSES)})`;
