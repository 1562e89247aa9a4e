import type { Logger } from '@mcprt/observability';
import type { CallReader } from '@mcprt/policy';
import type { ToolRegistry } from '@mcprt/tools';
import type { RedisClient } from '@mcprt/redis';
import { callAccess } from './access.js';
import { isCallId } from './call-id.js';
import type { CallStatements } from './call-statements.js';
import { publishCancel } from './cancel-channel.js';
import type { Producer } from './producer.js';
import type { ToolCall } from './schema.js';

/**
 * Who asked for the cancel, as the audit row records it (`reason` = `cancelled_by:<kind>:<id>`):
 * the end user (MCP `tasks/cancel`, `notifications/cancelled`, a closed 2026-07-28 request stream,
 * REST), or a tenant back-office API key, or an operator.
 */
export interface CancelActor {
  kind: 'user' | 'api_key' | 'operator';
  /** The user id, API key id or operator name. */
  id: string;
}

export interface CancelCallInput {
  tenantId: string;
  callId: string;
  /**
   * Set for an end user's cancel: only their own call, and only as the access rule allows the
   * request's verified token (access.ts: the app that made the call with its tool scope, or
   * `calls:cancel`); anything else answers `not_found` like a missing one, except a call the token
   * may see (`calls:read`) but not stop: `forbidden`.
   */
  byUser?: { userId: string; token: CallReader } | undefined;
  actor: CancelActor;
  requestId?: string | null | undefined;
}

export type CancelCallOutcome =
  /** Marked cancelled now (audited); queued job removed, running tool told to abort. */
  | { outcome: 'cancelled'; call: ToolCall }
  /** Already final (succeeded, failed or cancelled before): nothing changed. */
  | { outcome: 'final'; call: ToolCall }
  /** The token may see this call but not stop it (another app's call, `calls:read` without `calls:cancel`). */
  | { outcome: 'forbidden'; call: ToolCall; requiredScope: string; message: string }
  | { outcome: 'not_found' };

export interface CancelDeps {
  db: { calls: Pick<CallStatements, 'byId' | 'cancel'> };
  registry: Pick<ToolRegistry, 'get'>;
  redis: RedisClient;
  producer: { queue: Pick<Producer['queue'], 'remove'> };
  config: { QUEUE_PREFIX: string };
  log: Pick<Logger, 'warn'>;
}

/**
 * Cancel a call, for every path that can: one fenced statement marks it `cancelled` with its
 * `tool_call.cancelled` audit row and rings the completion bell (waiting requests answer at once);
 * then, only if it was cancelled now, the queued job is removed (a job a worker holds is locked and
 * stays: that worker skips or aborts it) and the cancel channel tells every worker to abort its run
 * of the call (cancel-channel.ts). A late result of the tool is dropped by the final write's fence:
 * the call stays cancelled.
 *
 * Redis away after the commit: the call is cancelled all the same; a queued job is skipped when a
 * worker takes it (its row is final), a running tool runs on and its result is dropped.
 */
export async function cancelCall(r: CancelDeps, input: CancelCallInput): Promise<CancelCallOutcome> {
  if (!isCallId(input.callId)) return { outcome: 'not_found' };
  if (input.byUser) {
    // The rule decides on the stored call (its client and tool never change, so reading it first
    // leaves no window); the statement below still matches the user.
    const call = await r.db.calls.byId(input.tenantId, input.callId);
    if (!call || call.userId !== input.byUser.userId) return { outcome: 'not_found' };
    const d = callAccess(r.registry, input.byUser.token, call, 'cancel');
    if (!d.allow) return d.code === 'not_found' ? { outcome: 'not_found' } : { outcome: 'forbidden', call, requiredScope: d.requiredScope, message: d.message };
  }
  const out = await r.db.calls.cancel(input.tenantId, {
    id: input.callId,
    userId: input.byUser?.userId,
    reason: `cancelled_by:${input.actor.kind}:${input.actor.id}`,
    requestId: input.requestId ?? null,
    error: { code: 'cancelled', message: 'The call was cancelled.', retryable: false },
  });
  if (out.outcome !== 'cancelled') return out;
  const { tenantId, callId } = input;
  await Promise.all([
    publishCancel(r.redis, r.config.QUEUE_PREFIX, { tenantId, callId }).catch((err: unknown) =>
      r.log.warn({ err, callId }, 'cancel: could not publish to workers; a running tool runs on and its result is dropped'),
    ),
    // Removes a waiting or delayed job; a job a worker holds is locked and refuses (ignored).
    r.producer.queue.remove(callId).catch(() => undefined),
  ]);
  return out;
}

/** The end user asking for a cancel: who they are, the verified token of the request, its request id. */
export interface UserCancelRequest {
  tenant: { id: string };
  user: { id: string };
  token: CallReader;
  requestId?: string | null | undefined;
}

/**
 * An end user's cancel of one of their calls: the one form every user surface uses (REST cancel,
 * MCP `tasks/cancel`, `notifications/cancelled`, the close of a 2026-07-28 request stream), audited
 * as `cancelled_by:user:<user id>` and put to the access rule with the request's token.
 */
export const cancelUserCall = (r: CancelDeps, who: UserCancelRequest, callId: string): Promise<CancelCallOutcome> =>
  cancelCall(r, {
    tenantId: who.tenant.id,
    callId,
    byUser: { userId: who.user.id, token: who.token },
    actor: { kind: 'user', id: who.user.id },
    requestId: who.requestId ?? null,
  });
