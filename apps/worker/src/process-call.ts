import { forTenant, isFinal, type ToolCallError } from '@mcprt/db';
import { AppError, toAppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';
import type { JobPayload } from '@mcprt/queue';
import { deadline, parseArguments, type UpstreamCredential, type UpstreamProvider } from '@mcprt/tools';
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
}

export type CallOutcome =
  | { kind: 'succeeded' }
  | { kind: 'failed'; error: ToolCallError }
  /** A transient failure with attempts left: the caller rethrows so BullMQ retries with backoff. */
  | { kind: 'retry'; error: AppError }
  /** The row was already final or a newer attempt owns it: nothing to do. */
  | { kind: 'skipped'; reason: string };

const publicError = (e: AppError): ToolCallError => ({ ...e.toPublic(), retryable: e.retryable });

/**
 * DESIGN §3.5 as a plain function: read the row, open the sealed token, run the tool with a timeout
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
  if (!call || isFinal(call)) return { kind: 'skipped', reason: 'call is final or unknown' };
  const fence = attempt.started;
  if (call.attempt > fence) return { kind: 'skipped', reason: 'a newer attempt owns the call' };

  // Result (or error) and its audit row: one fenced statement (call-statements.ts).
  const finish = (outcome: { status: 'succeeded'; result: unknown } | { status: 'failed'; error: ToolCallError }) =>
    r.db.calls.finish(job.tenantId, {
      id: job.callId,
      attempt: fence,
      elapsedMs: performance.now() - started,
      outcome,
      audit: { userId: job.userId, clientId: call.clientId, tool: call.tool, requestId: job.requestId ?? null },
    });

  const started = performance.now();
  const marker = setTimeout(() => {
    r.db.calls
      .markRunning(job.tenantId, job.callId, fence, performance.now() - started)
      .catch((e) => log().warn({ err: e }, 'could not mark the call running'));
  }, r.config.WORKER_RUNNING_MARK_MS);
  try {
    const [tenant, user] = await Promise.all([r.owners.tenant(job.tenantId), r.owners.user(job.tenantId, job.userId)]);
    const tool = r.registry.get(call.tool);
    if (!tenant || !user) throw new AppError('not_found', 'owner_missing', 'the tenant or user of this call no longer exists');
    if (!tool || !tenant.enabledTools.includes(tool.name)) throw new AppError('policy', 'tool_disabled', `tool ${call.tool} is not enabled for this tenant`);
    // Validated again here: the row may come from an older API version or be tampered with.
    const args = parseArguments(tool, call.arguments);
    if (!args.ok) throw new AppError('validation', 'invalid_arguments', args.message);

    let credential: UpstreamCredential | undefined;
    if (tool.upstream) {
      const c = job.credential;
      if (!c || c.provider !== tool.upstream.provider)
        throw new AppError('policy', 'credential_missing', `no ${tool.upstream.provider} credential was sent with this call`);
      // Opening fails loudly if the ciphertext was altered, moved to another user, or sealed with an unknown key.
      const accessToken = r.vault.openAccessToken({ tenantId: job.tenantId, userId: job.userId, id: c.id }, c.sealedAccessToken);
      credential = { provider: c.provider as UpstreamProvider, accessToken, scopes: c.scopes, expiresAt: c.expiresAt ? new Date(c.expiresAt) : null };
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
    const err = toAppError(e);
    if (!err.expose) log().error({ err: e }, 'tool call failed');
    if (err.retryable && attempt.number < attempt.max) {
      await scope.toolCalls.noteRetry(job.callId, fence, publicError(err));
      r.metrics.toolCalls.inc({ tool: job.tool, outcome: 'retry' });
      log().warn({ code: err.code, attempt: attempt.number }, 'transient failure, will retry');
      return { kind: 'retry', error: err };
    }
    const error = publicError(err);
    const won = await finish({ status: 'failed', error });
    r.metrics.toolCalls.inc({ tool: job.tool, outcome: won ? 'failed' : 'fenced' });
    log().info({ attempt: fence, code: error.code, fenced: !won }, 'tool call failed');
    return won ? { kind: 'failed', error } : { kind: 'skipped', reason: 'fenced out by a newer attempt' };
  } finally {
    clearTimeout(marker);
  }
}
