import type postgres from 'postgres';
import { groupCommit } from '@mcprt/db';
import type { ToolCall, ToolCallError } from './schema.js';
import { decideApproval, type ApprovalDecisionInput, type ApprovalDecisionOutcome } from './statements/approve.js';
import { onCallDone } from './statements/bell.js';
import { expireWaiting } from './statements/expire.js';
import { notifyCallLog, onCallLog } from './statements/call-log.js';
import { cancel, failIfNotFinal, noteStaleWrite, requeue, type CancelStatementInput, type CancelStatementOutcome } from './statements/end.js';
import { AdmissionWatch } from './admissions.js';
import { gateLoneCall, loadOrWait, onAdmission } from './statements/admission-gate.js';
import { provideInput, type ProvideInputStatement } from './statements/input.js';
import { byId, locateAnyTenant } from './statements/read.js';
import type { RecordCallInput, RecordCallResult } from './statements/record.js';
import { finishMany, markRunning, type FinishInput } from './statements/settle.js';

/**
 * The call path's statements, one round trip each: each is a single SQL statement (atomic on its
 * own, so no BEGIN/COMMIT round trips), written as postgres.js tagged templates, which the driver
 * prepares once per connection (Drizzle's query builder builds every query anew in JavaScript).
 * Every statement is scoped by tenant_id, and each one that changes a call's state writes its audit
 * row in the same statement (statements/: what each writes is said there).
 *
 * record, load and finish are group-committed (@mcprt/db group-commit.ts): calls made in the same
 * event-loop turn share one statement. Groups are keyed by tenant, so a statement only ever
 * carries one tenant's rows (tenant isolation holds per statement, not only per row).
 */
export function callStatements(sql: postgres.Sql, opts: { admissionWaitMs?: number } = {}) {
  const record = groupCommit({ many: gateLoneCall(sql), key: (i) => i.tenantId });
  // The worker hears admission notices (admissions.ts) from its first load on; `watchAdmissions` starts it earlier.
  const admissions = new AdmissionWatch((hear) => onAdmission(sql, hear));
  const load = groupCommit({ many: loadOrWait(sql, admissions, opts.admissionWaitMs), key: (i) => i.tenantId });
  const finish = groupCommit({ many: finishMany(sql), key: (i) => i.tenantId });
  return {
    /** Record (statements/record.ts) through the admission gate (statements/admission-gate.ts): `held` is told when the job may be enqueued. */
    record: async (tenantId: string, c: RecordCallInput, held?: () => void): Promise<RecordCallResult> => record({ tenantId, c, held }),
    /**
     * Load (statements/admission-gate.ts): a row its notice already brought is taken at once, without
     * waiting for the group's turn; `announced` (a job added through the admission gate): wait for
     * the notice instead of reading first.
     */
    load: (tenantId: string, id: string, announced = false): Promise<ToolCall | undefined> => {
      const heard = admissions.takeRow(tenantId, id);
      return heard ? Promise.resolve(heard) : load({ tenantId, id, announced });
    },
    /** Hear admission notices from now on (the worker, at start); resolves once listening. */
    watchAdmissions: (): Promise<unknown> => admissions.start(),
    /** Start (statements/settle.ts). */
    markRunning: (tenantId: string, id: string, attempt: number, elapsedMs: number): Promise<boolean> => markRunning(sql, tenantId, id, attempt, elapsedMs),
    /** Settle (statements/settle.ts). */
    finish: (tenantId: string, f: FinishInput): Promise<boolean> => finish({ tenantId, f }),
    byId: (tenantId: string, id: string): Promise<ToolCall | undefined> => byId(sql, tenantId, id),
    locateAnyTenant: (id: string): Promise<ToolCall | undefined> => locateAnyTenant(sql, id),
    noteStaleWrite: (tenantId: string, f: Pick<FinishInput, 'id' | 'attempt' | 'audit'> & { discarded: string }): Promise<void> =>
      noteStaleWrite(sql, tenantId, f),
    failIfNotFinal: (tenantId: string, id: string, error: ToolCallError): Promise<boolean> => failIfNotFinal(sql, tenantId, id, error),
    cancel: (tenantId: string, c: CancelStatementInput): Promise<CancelStatementOutcome> => cancel(sql, tenantId, c),
    /** Approve or deny a call awaiting approval (statements/approve.ts). */
    decideApproval: (tenantId: string, d: ApprovalDecisionInput): Promise<ApprovalDecisionOutcome> => decideApproval(sql, tenantId, d),
    /** Fail the calls whose approval deadline passed, any tenant (the worker's sweep). */
    expireApprovals: (limit: number): Promise<number> => expireWaiting(sql, 'approval', limit),
    /** Answers to a task waiting for input (statements/input.ts). */
    provideInput: (tenantId: string, p: ProvideInputStatement): Promise<ToolCall | undefined> => provideInput(sql, tenantId, p),
    /** Fail the tasks whose wait for their client's answers passed its deadline, any tenant (the same sweep). */
    expireInputs: (limit: number): Promise<number> => expireWaiting(sql, 'input', limit),
    requeue: (tenantId: string, id: string, seenAttempt: number): Promise<boolean> => requeue(sql, tenantId, id, seenAttempt),
    onCallDone: (fn: (callId: string, outcome?: string) => void): Promise<{ unlisten(): Promise<void> }> => onCallDone(sql, fn),
    /** A tool's log message, on its way to the request that made the call (statements/call-log.ts). */
    notifyLog: (tenantId: string, callId: string, m: Parameters<typeof notifyCallLog>[3]): Promise<void> => notifyCallLog(sql, tenantId, callId, m),
    onCallLog: (fn: (callId: string, tenantId: string, json: string) => void): Promise<{ unlisten(): Promise<void> }> => onCallLog(sql, fn),
  };
}

export type CallStatements = ReturnType<typeof callStatements>;
