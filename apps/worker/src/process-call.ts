import { connectLinkFor, upstreamOf as tenantUpstream } from '@mcprt/providers';
import { openCallArguments } from '@mcprt/keyring';
import { forTenant, isFinal, JOB_MISMATCH, jobMismatch, refuseJob, type ToolCallError } from '@mcprt/calls';
import { isDatabaseUnavailable, type Credential } from '@mcprt/db';
import { AppError, isAppError, toAppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';
import { decideToolCall } from '@mcprt/policy';
import type { JobPayload } from '@mcprt/calls';
import { deadline } from '@mcprt/egress';
import { parseArguments, REDACTED, upstreamClientFor, type UpstreamCredential } from '@mcprt/tools';
import { freshCredential, reauthError, reconnectUrl } from './credential-refresh.js';
import { decideFate } from './fate.js';
import type { WorkerResources } from './resources.js';
import { pauseUpstream, userConcurrency, type HeldLease } from './user-leases.js';

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
  /** Aborted on worker shutdown, job cancellation, or the call's cancellation (issue 11). */
  signal: AbortSignal;
  /**
   * True once the call was cancelled (the cancel channel, or a write that found the row final): the
   * signal fired for that reason, and nothing is retried or written (the row is already `cancelled`).
   */
  cancelled?: (() => boolean) | undefined;
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
  | { kind: 'refused'; reason: string }
  /** All of the user's concurrency slots are taken: nothing ran; delay the job (no attempt spent). */
  | { kind: 'wait'; delayMs: number };

/** The upstream a tool's calls are paused at on a 429: its credential's provider, else the tool itself (an operator-keyed API). */
export const upstreamOf = (tool: string, registryTool?: { upstream?: { provider: string } | undefined }) => registryTool?.upstream?.provider ?? tool;

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

  // The user's concurrency slot (user-leases.ts) is asked for while the row loads (one round trip
  // hidden behind the other), under the job's claimed tenant, user and tool: if the row disagrees the
  // job is refused below and the lease given back at once, so a forged job gains nothing.
  const jobId = attempt.jobId ?? job.callId;
  const leaseP = acquireLease(r, job, jobId, attempt.started);
  leaseP.catch(() => undefined); // awaited (and its error thrown) below; never an unhandled rejection
  let leaseSettled = false;
  const dropLease = () => {
    if (leaseSettled) return;
    leaseSettled = true;
    leaseP.then(
      (g) => (g && !('waitMs' in g) ? releaseAndWake(r, g, log) : undefined),
      () => undefined,
    );
  };

  const call = await r.db.calls.load(job.tenantId, job.callId).catch((e: unknown) => {
    dropLease();
    throw e;
  });
  if (!call) {
    dropLease();
    // Final (a duplicate job after the result: normal) or unknown here. A job naming a call that lives
    // in *another* tenant is a forged pairing: refuse it where that call lives.
    const elsewhere = await r.db.calls.locateAnyTenant(job.callId);
    if (elsewhere && elsewhere.tenantId !== job.tenantId) {
      await refuseJob(r, elsewhere, attempt.jobId, JOB_MISMATCH, ['tenantId']);
      return { kind: 'refused', reason: JOB_MISMATCH };
    }
    return { kind: 'skipped', reason: 'call is final or unknown' };
  }
  if (isFinal(call)) {
    dropLease();
    return { kind: 'skipped', reason: 'call is final or unknown' };
  }
  const fence = attempt.started;
  if (call.attempt > fence) {
    dropLease();
    return { kind: 'skipped', reason: 'a newer attempt owns the call' };
  }

  // From here on, who and what come from the row (never from the job): the owner, the tool, the
  // seal's binding and the audit's user. The job's claims are only compared with them.
  const tool = r.registry.get(call.tool);
  // The user's stored credential for the tool's provider, as it is now (status, scopes): only for
  // tools that need one (echo, the benchmark's tool, reads nothing here).
  const stored: Credential | null | undefined = tool?.upstream
    ? ((await scope.credentials.get(call.userId, tool.upstream.provider).catch((e: unknown) => {
        dropLease();
        throw e;
      })) ?? null)
    : undefined;
  const mismatch = jobMismatch(job, attempt.jobId, call, tool, stored);
  if (mismatch.length > 0) {
    dropLease();
    await refuseJob(r, call, attempt.jobId, JOB_MISMATCH, mismatch);
    return { kind: 'refused', reason: JOB_MISMATCH };
  }

  // The user's concurrency slot, held until the final write is done.
  leaseSettled = true;
  const got = await leaseP;
  if (got && 'waitMs' in got) return { kind: 'wait', delayMs: got.waitMs };
  const lease: HeldLease | undefined = got;

  // Result (or error) and its audit row: one fenced statement (call-statements.ts).
  // A write the fence rejects (a newer attempt owns the call, or it is final: this run is stale, e.g. its
  // worker was stopped past its lock) leaves one audit row naming both attempts; only on that path.
  const audit = { userId: call.userId, clientId: call.clientId, tool: call.tool, requestId: call.requestId ?? job.requestId ?? null };
  const finish = async (outcome: { status: 'succeeded'; result: unknown } | { status: 'failed'; error: ToolCallError }) => {
    const won = await r.db.calls.finish(call.tenantId, { id: call.id, attempt: fence, elapsedMs: performance.now() - started, outcome, audit });
    if (!won)
      await r.db.calls
        .noteStaleWrite(call.tenantId, { id: call.id, attempt: fence, audit, discarded: outcome.status })
        .catch((e: unknown) => log().warn({ err: e }, 'could not audit a discarded stale write'));
    return won;
  };

  const started = performance.now();
  const marker = setTimeout(() => {
    r.db.calls.markRunning(call.tenantId, call.id, fence, performance.now() - started).then(
      // Refused: the call is final (cancelled) or a newer attempt owns it. Either way this run's work
      // would be dropped: stop the tool now (a backstop for a cancel message this process missed).
      (marked) => (marked ? undefined : r.cancels.abort(call.tenantId, call.id)),
      (e: unknown) => log().warn({ err: e }, 'could not mark the call running'),
    );
  }, r.config.WORKER_RUNNING_MARK_MS);

  try {
    const [tenant, user] = await Promise.all([r.owners.tenant(call.tenantId), r.owners.user(call.tenantId, call.userId)]);
    if (!tenant || !user) throw new AppError('not_found', 'owner_missing', 'the tenant or user of this call no longer exists');
    // The policy again, at dequeue, with what is true now (DESIGN §5): the tool known and enabled for
    // the tenant, the stored credential active and covering the tool. The MCP token's scopes do not
    // travel (undefined: decided by the API). A denial is the call's failure, never retried.
    const decision = decideToolCall({ tenant, tool, tokenScopes: undefined, credential: stored });
    if (!decision.allow) {
      // A missing or too narrow upstream credential: the error carries the connect link made for this user (issue 8 §8).
      const connect =
        decision.connect && tenant.authMode === 'builtin' && tenantUpstream(tenant, decision.connect.provider)
          ? {
              ...decision.connect,
              url: connectLinkFor(r.keyring, r.config.PUBLIC_URL, tenant, call.userId, decision.connect.provider, decision.connect.scopes),
            }
          : undefined;
      throw new AppError('policy', decision.code, connect ? `${decision.message} Connect at ${connect.url}` : decision.message, {
        expose: true,
        retryable: false,
        ...(connect ? { details: { connect } } : {}),
      });
    }
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

    // The upstream token: the job's seal must open with the row's ids (binding); a credential
    // refreshed since enqueue (or due now) is taken from the row (credential-refresh.ts).
    // The user's budget at this provider (upstream-budget.ts): over it, wait for the window (no attempt spent).
    if (tool.upstream) {
      const wait = await r.budgets.take(tenant, call.userId, tool.upstream.provider);
      if (wait !== undefined) return { kind: 'wait', delayMs: wait };
    }
    let current: Credential | undefined;
    let accessToken: string | undefined;
    const refresh = { r, scope, tenant, client: () => r.refreshClient(tenant, tool.upstream!.provider) };
    if (tool.upstream) {
      const c = job.credential;
      if (!c || !stored) throw new AppError('policy', 'credential_missing', `no ${tool.upstream.provider} credential was sent with this call`);
      // Opened with the *row's* tenant and user and the stored credential's id (the job's ids are only
      // compared): fails loudly if the ciphertext was altered, sealed for anyone else, or under an unknown key.
      accessToken = r.vault.openAccessToken({ tenantId: call.tenantId, userId: call.userId, id: stored.id }, c.sealedAccessToken);
      current = await freshCredential(refresh, stored, { kind: 'expiry' });
      if (current.accessTokenSealed !== c.sealedAccessToken) accessToken = r.vault.openAccessToken(current, current.accessTokenSealed);
    }
    const credentialOf = (cur: Credential | undefined, token: string | undefined): UpstreamCredential | undefined =>
      tool.upstream && cur && token !== undefined
        ? { provider: tool.upstream.provider, accessToken: token, scopes: cur.scopes, expiresAt: cur.expiresAt }
        : undefined;

    const runOnce = async (credential: UpstreamCredential | undefined) => {
      const limit = deadline(attempt.signal, tool.timeoutMs);
      try {
        return await tool.run(
          {
            signal: limit.signal,
            tenant: {
              id: tenant.id,
              slug: tenant.slug,
              idpIssuer: tenant.idpIssuer,
              idpKind: tenant.idpKind,
              apiBase: (provider) => tenantUpstream(tenant, provider)?.apiBase,
              scavioKeySealed: tenant.scavioKeySealed,
            },
            user,
            credential,
            // Only tools with a Google/GitHub upstream get one (a small object; no I/O).
            upstream: upstreamClientFor(r.services, tool.upstream, credential, tenant.slug, limit.signal),
            services: r.services,
          },
          args.value,
        );
      } catch (e) {
        // Out of time: say so (retryable), whatever the tool made of the abort.
        if (limit.signal.aborted && !attempt.signal.aborted)
          throw new AppError('upstream', 'tool_timeout', `${tool.name} did not finish within ${tool.timeoutMs} ms`, {
            cause: e,
            retryable: true,
            expose: true,
          });
        throw e;
      } finally {
        limit.clear();
      }
    };
    let raw;
    try {
      raw = await runOnce(credentialOf(current, accessToken));
    } catch (e) {
      // The provider refused a token we thought valid (revoked early, clock skew): refresh once
      // (single flight; a refresh another worker already made is reused), then run once more.
      if (!current || !isAppError(e) || e.code !== 'upstream_unauthorized') throw e;
      const refreshed = await freshCredential(refresh, current, { kind: 'rejected', sealedAccessToken: current.accessTokenSealed });
      try {
        raw = await runOnce(credentialOf(refreshed, r.vault.openAccessToken(refreshed, refreshed.accessTokenSealed)));
      } catch (again) {
        // Refused again right after a refresh: only a new sign-in helps.
        if (isAppError(again) && again.code === 'upstream_unauthorized') {
          const provider = tool.upstream!.provider;
          throw reauthError(provider, reconnectUrl(r.config.PUBLIC_URL, tenant.slug, provider), again);
        }
        throw again;
      }
    }
    const result = tool.output ? tool.output.parse(raw) : raw;
    // The tool's own cap on what it returns (only tools that declare one pay for the measure).
    if (tool.maxResultBytes !== undefined) {
      const size = Buffer.byteLength(JSON.stringify(result));
      if (size > tool.maxResultBytes)
        throw new AppError(
          'upstream',
          'result_too_large',
          `${tool.name} produced ${size} bytes, more than its limit of ${tool.maxResultBytes}; narrow the request`,
          {
            expose: true,
            retryable: false,
          },
        );
    }
    const won = await finish({ status: 'succeeded', result });
    r.metrics.toolCallSeconds.observe({ tool: tool.name, outcome: 'succeeded' }, (performance.now() - started) / 1000);
    r.metrics.toolCalls.inc({ tool: tool.name, outcome: won ? 'succeeded' : 'fenced' });
    if (r.log.isLevelEnabled('debug')) log().debug({ attempt: fence, ms: Math.round(performance.now() - started), fenced: !won }, 'tool call succeeded');
    return won ? { kind: 'succeeded' } : { kind: 'skipped', reason: 'fenced out by a newer attempt' };
  } catch (e) {
    // Postgres unreachable is not the call's failure: worker.ts delays the job until it is back.
    if (isDatabaseUnavailable(e)) throw e;
    // Cancelled (issue 11): the row is already final; whatever the tool made of the abort is dropped.
    if (attempt.cancelled?.()) {
      r.metrics.toolCalls.inc({ tool: call.tool, outcome: 'cancelled' });
      log().info({ attempt: fence }, 'tool call cancelled while running');
      return { kind: 'skipped', reason: 'cancelled' };
    }
    const err = toAppError(e);
    const fate = decideFate(err, { number: attempt.number, max: attempt.max, aborted: attempt.signal.aborted });
    if (fate.do === 'wait') {
      // 429: this user waits at this provider for Retry-After (default 1 s); the job is delayed, no
      // attempt spent; other users and providers keep flowing (user-leases.ts).
      await pauseUpstream(r.redis, r.keys, call.tenantId, call.userId, upstreamOf(call.tool, tool), fate.delayMs);
      log().info({ retryAfterMs: fate.delayMs }, 'upstream rate limited this user; waiting');
      return { kind: 'wait', delayMs: fate.delayMs };
    }
    if (!err.expose) log().error({ err: e }, 'tool call failed');
    if (fate.do === 'retry') {
      await scope.toolCalls.noteRetry(call.id, fence, publicError(err));
      r.metrics.toolCalls.inc({ tool: call.tool, outcome: 'retry' });
      log().warn({ code: err.code, class: fate.class, attempt: attempt.number }, 'transient failure, will retry');
      return { kind: 'retry', error: err };
    }
    const error = publicError(err);
    const won = await finish({ status: 'failed', error });
    r.metrics.toolCalls.inc({ tool: call.tool, outcome: won ? 'failed' : 'fenced' });
    log().info({ attempt: fence, code: error.code, fenced: !won }, 'tool call failed');
    return won ? { kind: 'failed', error } : { kind: 'skipped', reason: 'fenced out by a newer attempt' };
  } finally {
    clearTimeout(marker);
    // Not awaited: the result is written; a late release only keeps the slot a moment longer.
    if (lease) void releaseAndWake(r, lease, log);
  }
}

/** The lease for this run (member = job id + fencing number), or undefined when the tenant is gone (refused later). */
async function acquireLease(r: WorkerResources, job: JobPayload, jobId: string, fence: number): Promise<HeldLease | { waitMs: number } | undefined> {
  const owner = await r.owners.tenant(job.tenantId);
  if (!owner) return undefined;
  return r.leases.acquire(
    job.tenantId,
    job.userId,
    upstreamOf(job.tool, r.registry.get(job.tool)),
    jobId,
    `${jobId}:${fence}`,
    userConcurrency(owner, job.userId),
  );
}

/** Free the slot and promote the first job that waited for one. Never throws (a lease lapses by itself). */
function releaseAndWake(r: WorkerResources, lease: HeldLease, log: () => Logger): Promise<void> {
  return lease.release().then(
    (waiter) => (waiter ? r.wakeJob(waiter) : undefined),
    (e: unknown) => log().warn({ err: e }, 'could not release the concurrency lease (it lapses by itself)'),
  );
}
