import { forTenant, type JobPayload, type TenantScope, type ToolCallError } from '@mcprt/calls';
import type { AppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';

import type { WorkerResources } from '../resources.js';

export interface Attempt {
  /** 1-based number of this BullMQ attempt, and how many are allowed. */
  number: number;
  max: number;
  /**
   * The fencing token: how many times the job has been started (BullMQ's `attemptsStarted`, counted
   * up in Redis each time a worker takes the job, including after a stall). A newer run of the same
   * call always carries a larger number.
   */
  started: number;
  /** Aborted on worker shutdown, job cancellation, or the call's cancellation. */
  signal: AbortSignal;
  /**
   * True once the call was cancelled (the cancel channel, or a write that found the row final): the
   * signal fired for that reason, and nothing is retried or written (the row is already `cancelled`).
   */
  cancelled?: (() => boolean) | undefined;
  /** The BullMQ job id; the producer always uses the call id (undefined: not checked, e.g. a direct call in a test). */
  jobId?: string | undefined;
  /**
   * The job's first run, and it was added while its row was being recorded (the admission gate:
   * `isAnnouncedJob` in @mcprt/calls): the row is awaited from its notice, not read first.
   */
  announced?: boolean | undefined;
}

export type CallOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: ToolCallError }
  /** A transient failure with attempts left: the caller rethrows so BullMQ retries with backoff. */
  | { kind: 'retry'; error: AppError }
  /** The row was already final or a newer attempt owns it: nothing to do. */
  | { kind: 'skipped'; reason: string }
  /** The job does not match its call (forged or misrouted): nothing ran; refused and audited. */
  | { kind: 'refused'; reason: string }
  /** All of the user's concurrency slots are taken: nothing ran; delay the job (no attempt spent). */
  | { kind: 'wait'; delayMs: number };

/** What every step of one run of one job shares. */
export interface CallRun {
  r: WorkerResources;
  job: JobPayload;
  attempt: Attempt;
  /** The job's tenant; after binding it is also the row's. */
  scope: TenantScope;
  /** The run's logger, built on first use: most successful calls log nothing above debug. */
  log: () => Logger;
}

export function callRun(r: WorkerResources, job: JobPayload, attempt: Attempt): CallRun {
  let child: Logger | undefined;
  const log = () => (child ??= r.log.child({ callId: job.callId, tenantId: job.tenantId, userId: job.userId, tool: job.tool, requestId: job.requestId }));
  return { r, job, attempt, scope: forTenant(r.db.db, job.tenantId), log };
}
