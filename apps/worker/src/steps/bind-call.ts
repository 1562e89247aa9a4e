import { isFinal, JOB_MISMATCH, jobMismatch, refuseJob, type ToolCall } from '@mcprt/calls';
import type { Credential } from '@mcprt/db';
import type { AnyTool } from '@mcprt/tools';
import type { CallOutcome, CallRun } from './run.js';

/**
 * The job bound to its row. From here on, who and what come from the row (never from the job): the
 * owner, the tool, the seal's binding and the audit's user. The job's claims are only compared with them.
 */
export interface BoundCall {
  call: ToolCall;
  /** The tool the row names, if this worker knows it (the policy decides on an unknown one). */
  tool: AnyTool | undefined;
  /**
   * The user's stored credential for the tool's provider, as it is now (status, scopes); null when
   * there is none, undefined for tools that need none (echo, the benchmark's tool, read nothing here).
   */
  stored: Credential | null | undefined;
}

const FINAL_OR_UNKNOWN: CallOutcome = { kind: 'skipped', reason: 'call is final or unknown' };

/**
 * Read the row and check the job against it: a final row or a newer attempt (the fence,
 * `attemptsStarted`) ends the run; a job that disagrees with its row is refused and audited. Whenever
 * the run ends here, `dropLease` is called first, before anything else is awaited, so the user's slot
 * asked for meanwhile is given back at once.
 */
export async function bindCall(run: CallRun, dropLease: () => void): Promise<{ bound: BoundCall } | { outcome: CallOutcome }> {
  const { r, job, attempt } = run;
  try {
    const call = await r.db.calls.load(job.tenantId, job.callId, attempt.announced === true);
    if (!call) {
      dropLease();
      return { outcome: await unknownHere(run) };
    }
    if (isFinal(call)) {
      dropLease();
      return { outcome: FINAL_OR_UNKNOWN };
    }
    if (call.attempt > attempt.started) {
      dropLease();
      return { outcome: { kind: 'skipped', reason: 'a newer attempt owns the call' } };
    }
    const tool = r.registry.get(call.tool);
    const stored = tool?.upstream ? ((await run.scope.credentials.get(call.userId, tool.upstream.provider)) ?? null) : undefined;
    const mismatch = jobMismatch(job, attempt.jobId, call, tool, stored);
    if (mismatch.length > 0) {
      dropLease();
      await refuseJob(r, call, attempt.jobId, JOB_MISMATCH, mismatch);
      return { outcome: { kind: 'refused', reason: JOB_MISMATCH } };
    }
    return { bound: { call, tool, stored } };
  } catch (e) {
    dropLease();
    throw e;
  }
}

/**
 * No live row in the job's tenant: final (a duplicate job after the result: normal) or unknown here.
 * A job naming a call that lives in *another* tenant is a forged pairing: refused where that call lives.
 */
async function unknownHere({ r, job, attempt }: CallRun): Promise<CallOutcome> {
  const elsewhere = await r.db.calls.locateAnyTenant(job.callId);
  if (!elsewhere || elsewhere.tenantId === job.tenantId) return FINAL_OR_UNKNOWN;
  await refuseJob(r, elsewhere, attempt.jobId, JOB_MISMATCH, ['tenantId']);
  return { kind: 'refused', reason: JOB_MISMATCH };
}
