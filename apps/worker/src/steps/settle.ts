import type { ToolCall, ToolCallError } from '@mcprt/calls';
import { isDatabaseUnavailable } from '@mcprt/db';
import { toAppError, type AppError } from '@mcprt/errors';
import type { AnyTool } from '@mcprt/tools';
import { decideFate } from '../fate.js';
import { pausedUpstreamOf, pauseUpstream } from '../user-leases.js';
import type { BoundCall } from './bind-call.js';
import type { CallOutcome, CallRun } from './run.js';

type Final = { status: 'succeeded'; result: unknown } | { status: 'failed'; error: ToolCallError };

/** The run's writes to its row, all fenced on this attempt (no newer attempt may have written the row). */
export interface RowWrites {
  /** Result or error and its audit row in one statement; false: the fence refused it. */
  finish(outcome: Final): Promise<boolean>;
  /** Since the run started, in ms. */
  elapsedMs(): number;
  /** The final write is done (or was never made): no `running` mark any more. */
  stop(): void;
}

const FENCED: CallOutcome = { kind: 'skipped', reason: 'fenced out by a newer attempt' };

const publicError = (e: AppError): ToolCallError => ({ ...e.toPublic(), retryable: e.retryable });

/**
 * Start the run's clock. A call that outlives WORKER_RUNNING_MARK_MS is marked `running` meanwhile
 * (same fence), so a quick call costs one write, not two. The final statement's NOTIFY, delivered on
 * commit, is the completion signal. A final write the fence rejects (a newer attempt owns the call,
 * or it is final: this run is stale, e.g. its worker was stopped past its lock) leaves one audit row
 * naming both attempts; only on that path.
 */
export function startWrites({ r, job, attempt, log }: CallRun, call: ToolCall): RowWrites {
  const fence = attempt.started;
  const audit = { userId: call.userId, clientId: call.clientId, tool: call.tool, requestId: call.requestId ?? job.requestId ?? null };
  const started = performance.now();
  const elapsedMs = () => performance.now() - started;
  const marker = setTimeout(() => {
    r.db.calls.markRunning(call.tenantId, call.id, fence, elapsedMs()).then(
      // Refused: the call is final (cancelled) or a newer attempt owns it. Either way this run's work
      // would be dropped: stop the tool now (a backstop for a cancel message this process missed).
      (marked) => (marked ? undefined : r.cancels.abort(call.tenantId, call.id)),
      (e: unknown) => log().warn({ err: e }, 'could not mark the call running'),
    );
  }, r.config.WORKER_RUNNING_MARK_MS);
  return {
    async finish(outcome) {
      const won = await r.db.calls.finish(call.tenantId, { id: call.id, attempt: fence, elapsedMs: elapsedMs(), outcome, audit });
      if (!won)
        await r.db.calls
          .noteStaleWrite(call.tenantId, { id: call.id, attempt: fence, audit, discarded: outcome.status })
          .catch((e: unknown) => log().warn({ err: e }, 'could not audit a discarded stale write'));
      return won;
    },
    elapsedMs,
    stop: () => clearTimeout(marker),
  };
}

/** The result is the call's: written with its audit row. */
export async function settleSucceeded({ r, job, attempt, log }: CallRun, writes: RowWrites, tool: AnyTool, result: unknown): Promise<CallOutcome> {
  const won = await writes.finish({ status: 'succeeded', result });
  const tenant = job.tenantId;
  r.metrics.toolCallSeconds.observe({ tool: tool.name, tenant, outcome: 'succeeded' }, writes.elapsedMs() / 1000);
  r.metrics.toolCalls.inc({ tool: tool.name, tenant, outcome: won ? 'succeeded' : 'fenced' });
  if (r.log.isLevelEnabled('debug')) log().debug({ attempt: attempt.started, ms: Math.round(writes.elapsedMs()), fenced: !won }, 'tool call succeeded');
  return won ? { kind: 'succeeded' } : FENCED;
}

/** What becomes of a run that threw: the fate table (fate.ts) decides wait, retry or fail. */
export async function settleFailed(run: CallRun, writes: RowWrites, { call, tool }: BoundCall, e: unknown): Promise<CallOutcome> {
  const { r, attempt, log } = run;
  const fence = attempt.started;
  // Postgres unreachable is not the call's failure: worker.ts delays the job until it is back.
  if (isDatabaseUnavailable(e)) throw e;
  // Cancelled: the row is already final; whatever the tool made of the abort is dropped.
  if (attempt.cancelled?.()) {
    r.metrics.toolCalls.inc({ tool: call.tool, tenant: call.tenantId, outcome: 'cancelled' });
    log().info({ attempt: fence }, 'tool call cancelled while running');
    return { kind: 'skipped', reason: 'cancelled' };
  }
  const err = toAppError(e);
  const fate = decideFate(err, { number: attempt.number, max: attempt.max, aborted: attempt.signal.aborted });
  r.metrics.failureFates.inc({ tool: call.tool, fate: fate.class, action: fate.do });
  if (fate.do === 'wait') {
    // 429: this user waits at this provider for Retry-After (default 1 s); the job is delayed, no
    // attempt spent; other users and providers keep flowing (user-leases.ts).
    await pauseUpstream(r.redis, r.keys, call.tenantId, call.userId, pausedUpstreamOf(call.tool, tool), fate.delayMs);
    log().info({ retryAfterMs: fate.delayMs }, 'upstream rate limited this user; waiting');
    return { kind: 'wait', delayMs: fate.delayMs };
  }
  if (!err.expose) log().error({ err: e }, 'tool call failed');
  if (fate.do === 'retry') {
    await run.scope.toolCalls.noteRetry(call.id, fence, publicError(err));
    r.metrics.toolCalls.inc({ tool: call.tool, tenant: call.tenantId, outcome: 'retry' });
    log().warn({ code: err.code, class: fate.class, attempt: attempt.number }, 'transient failure, will retry');
    return { kind: 'retry', error: err };
  }
  const error = publicError(err);
  const won = await writes.finish({ status: 'failed', error });
  r.metrics.toolCallSeconds.observe({ tool: call.tool, tenant: call.tenantId, outcome: 'failed' }, writes.elapsedMs() / 1000);
  r.metrics.toolCalls.inc({ tool: call.tool, tenant: call.tenantId, outcome: won ? 'failed' : 'fenced' });
  log().info({ attempt: fence, code: error.code, fenced: !won }, 'tool call failed');
  return won ? { kind: 'failed', error } : FENCED;
}
