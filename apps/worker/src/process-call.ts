import type { JobPayload } from '@mcprt/calls';
import { inSpan, tracingOn } from '@mcprt/observability';
import type { WorkerResources } from './resources.js';
import { bindCall } from './steps/bind-call.js';
import { requestLease } from './steps/lease.js';
import { callArguments, callInput } from './steps/arguments.js';
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
  const binding = await step('bind call', () => bindCall(run, lease.drop));
  if ('outcome' in binding) return binding.outcome;
  const { bound } = binding;
  const slot = await step('take lease', () => lease.take());
  if ('waitMs' in slot) {
    r.metrics.leaseWaits.inc({ reason: 'concurrency' });
    return { kind: 'wait', delayMs: slot.waitMs };
  }
  const writes = startWrites(run, bound.call);
  try {
    const allowed = await step('recheck policy', () => recheckPolicy(r, bound));
    const args = callArguments(r, bound.call, allowed.tool);
    const wait = await step('take upstream budget', () => takeUpstreamBudget(run, bound.call, allowed));
    if (wait !== undefined) {
      r.metrics.leaseWaits.inc({ reason: 'upstream_budget' });
      return { kind: 'wait', delayMs: wait };
    }
    const token = await step('upstream token', () => upstreamToken(run, bound, allowed));
    const result = await step(`execute_tool ${job.tool}`, () => runTool(run, allowed, args, token, callInput(r, bound.call)), job.tool);
    return await step('settle', () => settleSucceeded(run, writes, allowed.tool, result));
  } catch (e) {
    return await step('settle', () => settleFailed(run, writes, bound, e));
  } finally {
    writes.stop();
    slot.release();
  }
}

/**
 * A step as a child span of the job's `process tool-calls` span (tracing on); tracing off, the step
 * itself. The tool's own run is `execute_tool {tool}` (the GenAI conventions' span for a tool).
 */
function step<T>(name: string, fn: () => Promise<T>, tool?: string): Promise<T> {
  if (!tracingOn()) return fn();
  return inSpan(name, tool ? { attributes: { 'gen_ai.operation.name': 'execute_tool', 'gen_ai.tool.name': tool } } : {}, fn);
}
