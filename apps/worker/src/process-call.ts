import { openCallArguments } from '@mcprt/crypto';
import { forTenant, isDatabaseUnavailable, isFinal, type Credential, type ToolCallError } from '@mcprt/db';
import { AppError, toAppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';
import { decideToolCall } from '@mcprt/policy';
import type { JobPayload } from '@mcprt/queue';
import { deadline, parseArguments, REDACTED, type UpstreamCredential } from '@mcprt/tools';
import { JOB_MISMATCH, jobMismatch, refuseJob } from './job-binding.js';
import type { WorkerResources } from './resources.js';

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
  /** Aborted on worker shutdown or job cancellation. */
  signal: AbortSignal;
  /** The BullMQ job id; the producer always uses the call id (undefined: not checked, e.g. a direct call in a test). */
  jobId?: string | undefined;
}

export type CallOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: ToolCallError }
  /** A transient failure with attempts left: the caller rethrows so BullMQ retries with backoff. */
  | { kind: 'retry'; error: AppError }
  /** The row was already final or a newer attempt owns it: nothing to do. */
  | { kind: 'skipped'; reason: string }
  /** The job does not match its call (forged or misrouted): nothing ran; refused and audited. */
  | { kind: 'refused'; reason: string };

const publicError = (e: AppError): ToolCallError => ({ ...e.toPublic(), retryable: e.retryable });

/**
 * DESIGN §3.5 as a plain function: read the row, check the job against it (job-binding.ts) and the
 * policy against what is stored now (the tenant's tools, the user's credential), open the sealed token
 * with the row's ids, put sealed sensitive arguments back, run the tool with a timeout
 * and the abort signal, then write result + audit in one statement fenced on this attempt (no newer
 * attempt may have written the row); that statement's NOTIFY, delivered on commit, is the completion
 * signal. A call that outlives WORKER_RUNNING_MARK_MS is marked `running` meanwhile (same fence), so
 * a quick call costs one write, not two.
 */
export async function processCall(r: WorkerResources, job: JobPayload, attempt: Attempt): Promise<CallOutcome> {
  const scope = forTenant(r.db.db, job.tenantId);
  // Built only if something is logged: most successful calls log nothing above debug.
  let child: Logger | undefined;
  const log = () => (child ??= r.log.child({ callId: job.callId, tenantId: job.tenantId, userId: job.userId, tool: job.tool, requestId: job.requestId }));

  const call = await r.db.calls.load(job.tenantId, job.callId);
  if (!call) {
    // Final (a duplicate job after the result: normal) or unknown here. A job naming a call that lives
    // in *another* tenant is a forged pairing: refuse it where that call lives.
    const elsewhere = await r.db.calls.locateAnyTenant(job.callId);
    if (elsewhere && elsewhere.tenantId !== job.tenantId) {
      await refuseJob(r, elsewhere, attempt.jobId, JOB_MISMATCH, ['tenantId']);
      return { kind: 'refused', reason: JOB_MISMATCH };
    }
    return { kind: 'skipped', reason: 'call is final or unknown' };
  }
  if (isFinal(call)) return { kind: 'skipped', reason: 'call is final or unknown' };
  const fence = attempt.started;
  if (call.attempt > fence) return { kind: 'skipped', reason: 'a newer attempt owns the call' };

  // From here on, who and what come from the row (never from the job): the owner, the tool, the
  // seal's binding and the audit's user. The job's claims are only compared with them.
  const tool = r.registry.get(call.tool);
  // The user's stored credential for the tool's provider, as it is now (status, scopes): only for
  // tools that need one (echo, the benchmark's tool, reads nothing here).
  const stored: Credential | null | undefined = tool?.upstream ? ((await scope.credentials.get(call.userId, tool.upstream.provider)) ?? null) : undefined;
  const mismatch = jobMismatch(job, attempt.jobId, call, tool, stored);
  if (mismatch.length > 0) {
    await refuseJob(r, call, attempt.jobId, JOB_MISMATCH, mismatch);
    return { kind: 'refused', reason: JOB_MISMATCH };
  }

  // Result (or error) and its audit row: one fenced statement (call-statements.ts).
  const finish = (outcome: { status: 'succeeded'; result: unknown } | { status: 'failed'; error: ToolCallError }) =>
    r.db.calls.finish(call.tenantId, {
      id: call.id,
      attempt: fence,
      elapsedMs: performance.now() - started,
      outcome,
      audit: { userId: call.userId, clientId: call.clientId, tool: call.tool, requestId: call.requestId ?? job.requestId ?? null },
    });

  const started = performance.now();
  const marker = setTimeout(() => {
    r.db.calls.markRunning(call.tenantId, call.id, fence, performance.now() - started).catch((e) => log().warn({ err: e }, 'could not mark the call running'));
  }, r.config.WORKER_RUNNING_MARK_MS);
  try {
    const [tenant, user] = await Promise.all([r.owners.tenant(call.tenantId), r.owners.user(call.tenantId, call.userId)]);
    if (!tenant || !user) throw new AppError('not_found', 'owner_missing', 'the tenant or user of this call no longer exists');
    // The policy again, at dequeue, with what is true now (DESIGN §5): the tool known and enabled for
    // the tenant, the stored credential active and covering the tool. The MCP token's scopes do not
    // travel (undefined: decided by the API). A denial is the call's failure, never retried.
    const decision = decideToolCall({ tenant, tool, tokenScopes: undefined, credential: stored });
    if (!decision.allow) throw new AppError('policy', decision.code, decision.message, { expose: true, retryable: false });
    if (!tool) throw new AppError('policy', 'unknown_tool', 'Unknown tool'); // (decided above; narrows the type)
    // Sensitive arguments: the row holds "[redacted]", the real values are sealed to this call.
    let runArgs = call.arguments;
    if (call.sealedArgs)
      runArgs = { ...runArgs, ...openCallArguments(r.keyring, { tenantId: call.tenantId, userId: call.userId, callId: call.id }, call.sealedArgs) };
    else if (tool.sensitiveArgs?.some((k) => runArgs[k] === REDACTED))
      throw new AppError('validation', 'sensitive_arguments_unavailable', 'the sensitive arguments of this call are not available; please call again', {
        expose: true,
      });
    // Validated again here: the row may come from an older API version or be tampered with.
    const args = parseArguments(tool, runArgs);
    if (!args.ok) throw new AppError('validation', 'invalid_arguments', args.message);

    let credential: UpstreamCredential | undefined;
    if (tool.upstream) {
      const c = job.credential;
      if (!c || !stored) throw new AppError('policy', 'credential_missing', `no ${tool.upstream.provider} credential was sent with this call`);
      // Opened with the *row's* tenant and user and the stored credential's id (the job's ids are only
      // compared): fails loudly if the ciphertext was altered, sealed for anyone else, or under an unknown key.
      const accessToken = r.vault.openAccessToken({ tenantId: call.tenantId, userId: call.userId, id: stored.id }, c.sealedAccessToken);
      credential = { provider: tool.upstream.provider, accessToken, scopes: stored.scopes, expiresAt: stored.expiresAt };
    }

    const limit = deadline(attempt.signal, tool.timeoutMs);
    let raw;
    try {
      raw = await tool.run(
        { signal: limit.signal, tenant: { id: tenant.id, slug: tenant.slug, idpIssuer: tenant.idpIssuer }, user, credential, services: r.services },
        args.value,
      );
    } catch (e) {
      // Out of time: say so (retryable), whatever the tool made of the abort.
      if (limit.signal.aborted && !attempt.signal.aborted)
        throw new AppError('upstream', 'tool_timeout', `${tool.name} did not finish within ${tool.timeoutMs} ms`, { cause: e, retryable: true, expose: true });
      throw e;
    } finally {
      limit.clear();
    }
    const result = tool.output ? tool.output.parse(raw) : raw;
    const won = await finish({ status: 'succeeded', result });
    r.metrics.toolCallSeconds.observe({ tool: tool.name, outcome: 'succeeded' }, (performance.now() - started) / 1000);
    r.metrics.toolCalls.inc({ tool: tool.name, outcome: won ? 'succeeded' : 'fenced' });
    if (r.log.isLevelEnabled('debug')) log().debug({ attempt: fence, ms: Math.round(performance.now() - started), fenced: !won }, 'tool call succeeded');
    return won ? { kind: 'succeeded' } : { kind: 'skipped', reason: 'fenced out by a newer attempt' };
  } catch (e) {
    // Postgres unreachable is not the call's failure: worker.ts delays the job until it is back.
    if (isDatabaseUnavailable(e)) throw e;
    const err = toAppError(e);
    if (!err.expose) log().error({ err: e }, 'tool call failed');
    if (err.retryable && attempt.number < attempt.max) {
      await scope.toolCalls.noteRetry(call.id, fence, publicError(err));
      r.metrics.toolCalls.inc({ tool: call.tool, outcome: 'retry' });
      log().warn({ code: err.code, attempt: attempt.number }, 'transient failure, will retry');
      return { kind: 'retry', error: err };
    }
    const error = publicError(err);
    const won = await finish({ status: 'failed', error });
    r.metrics.toolCalls.inc({ tool: call.tool, outcome: won ? 'failed' : 'fenced' });
    log().info({ attempt: fence, code: error.code, fenced: !won }, 'tool call failed');
    return won ? { kind: 'failed', error } : { kind: 'skipped', reason: 'fenced out by a newer attempt' };
  } finally {
    clearTimeout(marker);
  }
}
