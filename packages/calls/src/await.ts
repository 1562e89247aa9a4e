import { isDatabaseUnavailable } from '@mcprt/db';
import type { Logger } from '@mcprt/observability';
import { isFinal } from './call-states.js';
import type { CallStatements } from './call-statements.js';
import type { CompletionWaiter } from './completion.js';
import type { ToolCall } from './schema.js';
import { applyOutcome, callOutcomeSchema } from './statements/bell.js';

/** The waited-for call in the final state its bell carried; undefined (read the row) if the detail is not valid. */
function outcomeFromBell(call: ToolCall, detail: string): ToolCall | undefined {
  let json: unknown;
  try {
    json = JSON.parse(detail);
  } catch {
    return undefined;
  }
  const o = callOutcomeSchema.safeParse(json);
  return o.success ? applyOutcome(call, o.data) : undefined;
}

export interface AwaitDeps {
  db: { calls: Pick<CallStatements, 'byId'> };
  waiter: Pick<CompletionWaiter, 'wait'>;
  /** Aborted when the process drains: a wait ends and answers with the state last known. */
  drain?: Pick<AbortSignal, 'aborted'> | undefined;
  /** Told when Postgres is unreachable (logged once per outage by the caller). */
  outages: { report(dep: 'postgres', err: unknown): void };
}

export interface AwaitOptions {
  timeoutMs: number;
  /** The request's end (client gone) or the API's drain. */
  signal: Pick<AbortSignal, 'aborted'>;
  /** The call was just enqueued: wait for the bell (or the first poll) before reading the row. */
  fresh: boolean;
  /** Told every `everyMs` while the call is not final (progress notifications). */
  tick?: { everyMs: number; fn: (elapsedMs: number) => Promise<void> | void } | undefined;
}

/**
 * Await: wait for a recorded call to become final, at most `timeoutMs`, and answer with the latest
 * state known. From the moment a call is recorded the client always gets its id: a wait that fails
 * (Postgres gone after the commit) or is cut short (the API drains) answers with the state last
 * known, never with an error a client would retry into a second run.
 */
export async function awaitCall(
  r: AwaitDeps,
  who: { tenant: { id: string }; log: Pick<Logger, 'warn'> },
  call: ToolCall,
  o: AwaitOptions,
): Promise<ToolCall> {
  const started = Date.now();
  const deadline = started + o.timeoutMs;
  const check = async () => {
    const row = await r.db.calls.byId(who.tenant.id, call.id);
    return row && isFinal(row) ? row : undefined;
  };
  let first = o.fresh;
  try {
    for (;;) {
      const left = deadline - Date.now();
      const slice = o.tick ? Math.min(o.tick.everyMs, left) : left;
      const done = await r.waiter.wait(call.id, check, {
        timeoutMs: Math.max(0, slice),
        signal: o.signal,
        checkFirst: !first,
        fromBell: (detail) => outcomeFromBell(call, detail),
      });
      first = false;
      if (done) return done;
      if (o.signal.aborted || Date.now() >= deadline) break;
      await o.tick?.fn(Date.now() - started);
    }
    if (r.drain?.aborted) return call;
    return (await r.db.calls.byId(who.tenant.id, call.id)) ?? call;
  } catch (e) {
    if (isDatabaseUnavailable(e)) r.outages.report('postgres', e);
    else who.log.warn({ err: e, callId: call.id }, 'waiting for a recorded call failed; answering with its id');
    return call;
  }
}
