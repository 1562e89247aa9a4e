import {
  isAnnouncedJob,
  isCallId,
  isStalledOut,
  JOB_PAYLOAD_INVALID,
  jobEndError,
  jobPayloadV1,
  parseJobPayload,
  refuseJob,
  TOOL_CALLS_QUEUE,
  type JobPayload,
} from '@mcprt/calls';
import { contextOf, errorTypeOf, inSpan, markError, tracingOn } from '@mcprt/observability';
import { isDatabaseUnavailable } from '@mcprt/db';
import { DelayedError, UnrecoverableError, type Job, type Worker } from 'bullmq';
import type { RunHooks } from './fetch-watch.js';
import { PoisonTolerantWorker } from './poison-guard.js';
import { processCall, type CallOutcome } from './process-call.js';
import type { WorkerResources } from './resources.js';

/**
 * The BullMQ adapter: parse the payload, run `processCall`, map its outcome to the job's fate
 * (retry = throw, permanent = UnrecoverableError). The completion bell rings from Postgres on commit.
 */
export function startToolWorker(r: WorkerResources, hooks?: RunHooks): Worker {
  const { config } = r;
  const outage = { down: false };
  const processor = async (job: Job, token?: string, signal?: AbortSignal) => {
    hooks?.started();
    try {
      return await runJob(r, outage, job, token, signal);
    } finally {
      hooks?.ended();
    }
  };
  const worker = new PoisonTolerantWorker(TOOL_CALLS_QUEUE, processor, {
    connection: r.redis,
    prefix: r.keys.queuePrefix,
    concurrency: config.WORKER_CONCURRENCY,
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.JOB_STALLED_INTERVAL_MS,
    maxStalledCount: config.JOB_MAX_STALLED,
  });
  worker.on('error', (err) => r.log.warn({ err }, 'worker error'));
  worker.on('failed', (job, err) => {
    if (job) failGivenUp(r, job, err);
  });
  return worker;
}

/** Logged once per outage: set on the first job delayed for an unreachable Postgres, cleared by the next success. */
interface Outage {
  down: boolean;
}

async function runJob(r: WorkerResources, outage: Outage, job: Job, token?: string, signal?: AbortSignal): Promise<string> {
  let payload;
  try {
    payload = parseJobPayload(job.data);
  } catch (e) {
    // Wrong types, unknown fields, another version: never retried (the same bytes fail the same
    // way), and audited on the call it names when that call exists (refuseJob).
    r.log.error({ jobId: job.id, err: e }, 'dropping job with invalid payload');
    await refuseInvalidJob(r, job).catch((err) => r.log.error({ jobId: job.id, err }, 'could not audit an invalid job'));
    throw new UnrecoverableError('invalid job payload');
  }
  if (!tracingOn()) return runParsedJob(r, outage, job, payload, token, signal);
  const parsed = payload;
  return inSpan(PROCESS_SPAN, { kind: 'consumer', parent: contextOf(payload.trace) ?? 'root', attributes: processAttributes(job, payload) }, async (span) => {
    try {
      return await runParsedJob(r, outage, job, parsed, token, signal);
    } catch (e) {
      // A job put back (no free slot, Postgres away) is not an error of the call.
      if (e instanceof DelayedError) span?.setAttribute('mcprt.job.delayed', true);
      else markError(span, e instanceof UnrecoverableError ? e.message : errorTypeOf(e));
      throw e;
    }
  });
}

const PROCESS_SPAN = `process ${TOOL_CALLS_QUEUE}`;
const processAttributes = (job: Job, payload: JobPayload) => ({
  'messaging.system': 'bullmq',
  'messaging.operation.type': 'process',
  'messaging.destination.name': TOOL_CALLS_QUEUE,
  'messaging.message.id': job.id ?? '',
  'mcprt.call.id': payload.callId,
  'mcprt.job.attempt': job.attemptsMade + 1,
  'gen_ai.tool.name': payload.tool,
});

/** One run of a readable job: processCall, then the job's fate for its outcome. */
async function runParsedJob(r: WorkerResources, outage: Outage, job: Job, payload: JobPayload, token?: string, signal?: AbortSignal): Promise<string> {
  r.metrics.activeJobs.inc();
  // Held before the row is read, so a cancel committed after that read finds this run (cancel-channel.ts).
  const run = r.cancels.track(payload.tenantId, payload.callId, signal);
  try {
    const outcome = await processCall(r, payload, {
      number: job.attemptsMade + 1,
      max: job.opts.attempts ?? 1,
      started: job.attemptsStarted,
      signal: run.signal,
      cancelled: run.cancelled,
      jobId: job.id,
      announced: job.attemptsStarted <= 1 && isAnnouncedJob(job.name),
    });
    const kind = await jobFate(job, token, outcome);
    outage.down = false;
    return kind;
  } catch (e) {
    // Postgres unreachable: nothing about the call is known to be wrong. Put the job back for later
    // without spending an attempt (moveToDelayed + DelayedError), for as long as the outage lasts;
    // a later run carries a larger attemptsStarted, so the fence still holds.
    if (token && isDatabaseUnavailable(e)) {
      if (!outage.down) r.log.warn({ jobId: job.id }, 'postgres unreachable: delaying jobs until it is back');
      outage.down = true;
      await job.moveToDelayed(Date.now() + r.config.JOB_BACKOFF_MS, token);
      throw new DelayedError();
    }
    throw e;
  } finally {
    run.release();
    r.metrics.activeJobs.dec();
  }
}

/** The job's fate for a call's outcome: returns for a settled or skipped call, throws otherwise. */
async function jobFate(job: Job, token: string | undefined, outcome: CallOutcome): Promise<string> {
  if (outcome.kind === 'wait') {
    // No free slot for this user: back to the delayed set without spending an attempt
    // (BullMQ: moveToDelayed + DelayedError); a release promotes it earlier.
    // Fairness: a deferred job comes back *prioritized* (priority 1). BullMQ serves jobs
    // without a priority (every fresh call) before prioritized ones, so a user whose calls
    // wait for their own slots never stands in front of other users' new calls
    // (docs/architecture.md, "Fairness"). Costs a round trip on this path only.
    if (!job.opts.priority) await job.changePriority({ priority: 1 });
    await job.moveToDelayed(Date.now() + outcome.delayMs + Math.floor(Math.random() * 50), token);
    throw new DelayedError();
  }
  if (outcome.kind === 'retry') throw outcome.error;
  if (outcome.kind === 'failed') throw new UnrecoverableError(outcome.error.code);
  if (outcome.kind === 'refused') throw new UnrecoverableError(outcome.reason);
  return outcome.kind;
}

/**
 * A job BullMQ gave up on outside our processor (stalled too often): make the row say so.
 * A job that stalled more than JOB_MAX_STALLED times (it kills or wedges its worker: a poison job)
 * is failed by BullMQ when next fetched, whatever attempts are left: fail its call too (audited).
 * BullMQ raises that stall failure as an UnrecoverableError (`job.deferredFailure`), so it is told
 * apart by its message before our own UnrecoverableErrors (the call is already final) are skipped.
 */
function failGivenUp(r: WorkerResources, job: Job, err: Error): void {
  const stalledOut = isStalledOut(err.message);
  if (!stalledOut && (err instanceof UnrecoverableError || job.attemptsMade < (job.opts.attempts ?? 1))) return;
  const parsed = jobPayloadV1.safeParse(job.data);
  if (!parsed.success) return;
  if (stalledOut) r.log.error({ callId: parsed.data.callId, jobId: job.id }, 'job stalled too often: failed as poison');
  const error = jobEndError(stalledOut ? err.message : undefined);
  void r.db.calls.failIfNotFinal(parsed.data.tenantId, parsed.data.callId, error).catch((e) => r.log.error({ err: e }, 'could not mark lost job'));
}

/**
 * An unreadable job that names an existing call: audited in the tenant that owns the call (never the
 * tenant the job claims), and the call failed if the job holds its job id (see refuseJob).
 */
async function refuseInvalidJob(r: WorkerResources, job: Job): Promise<void> {
  // The job id is the call id (producer.ts): it names the call even when the data is unreadable.
  const named = (job.data as { callId?: unknown } | null)?.callId;
  const callId = typeof named === 'string' ? named : job.id;
  if (!isCallId(callId)) return;
  const call = await r.db.calls.locateAnyTenant(callId);
  if (call) await refuseJob(r, call, job.id, JOB_PAYLOAD_INVALID, ['payload']);
}
