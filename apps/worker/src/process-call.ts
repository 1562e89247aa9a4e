import type { JobPayload } from '@mcprt/calls';
import type { WorkerResources } from './resources.js';
import { bindCall } from './steps/bind-call.js';
import { requestLease } from './steps/lease.js';
import { callArguments } from './steps/arguments.js';
import { recheckPolicy } from './steps/recheck-policy.js';
import { runTool } from './steps/run-tool.js';
import { callRun, type Attempt, type CallOutcome } from './steps/run.js';
import { settleFailed, settleSucceeded, startWrites } from './steps/settle.js';
import { takeUpstreamBudget, upstreamToken } from './steps/upstream-token.js';

export type { Attempt, CallOutcome } from './steps/run.js';

/**
 * One run of one job, as a pipeline: ask for the user's slot and bind the job to its row (read
 * together), take the slot, re-check the policy with what is stored now, open the arguments, spend the
 * user's budget at the provider, get the credential (refreshed if due), run the tool, and settle: the
 * result or error and its audit row in one statement fenced on this attempt. Each step is in steps/.
 */
export async function processCall(r: WorkerResources, job: JobPayload, attempt: Attempt): Promise<CallOutcome> {
  const run = callRun(r, job, attempt);
  const lease = requestLease(run);
  const binding = await bindCall(run, lease.drop);
  if ('outcome' in binding) return binding.outcome;
  const { bound } = binding;
  const slot = await lease.take();
  if ('waitMs' in slot) {
    r.metrics.leaseWaits.inc({ reason: 'concurrency' });
    return { kind: 'wait', delayMs: slot.waitMs };
  }
  const writes = startWrites(run, bound.call);
  try {
    const allowed = await recheckPolicy(r, bound);
    const args = callArguments(r, bound.call, allowed.tool);
    const wait = await takeUpstreamBudget(run, bound.call, allowed);
    if (wait !== undefined) {
      r.metrics.leaseWaits.inc({ reason: 'upstream_budget' });
      return { kind: 'wait', delayMs: wait };
    }
    const token = await upstreamToken(run, bound, allowed);
    const result = await runTool(run, allowed, args, token);
    return await settleSucceeded(run, writes, allowed.tool, result);
  } catch (e) {
    return await settleFailed(run, writes, bound, e);
  } finally {
    writes.stop();
    slot.release();
  }
}
