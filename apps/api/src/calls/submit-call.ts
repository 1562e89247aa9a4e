import { canonicalJson, requestHash, requestHashMatches, sealCallArguments } from '@mcprt/keyring';
import type { Tenant, ToolCall, User } from '@mcprt/db';
import type { TenantScope } from '@mcprt/calls';
import { AppError } from '@mcprt/errors';
import type { Logger } from '@mcprt/observability';
import { decideToolCall } from '@mcprt/policy';
import { parseArguments, redactArguments, sensitiveValues, type AnyTool } from '@mcprt/tools';
import type { ApiResources } from '../resources.js';
import { buildJobPayload } from './build-job.js';
import { mayRead } from './call-access.js';
import { connectLinkOf, type ConnectLink } from './connect-link.js';
import { newCallId } from './call-id.js';

export interface SubmitInput {
  tenant: Tenant;
  scope: TenantScope;
  user: User;
  clientId: string | undefined;
  tool: AnyTool;
  /** Scopes of the verified MCP access token: the policy decides with them. */
  tokenScopes: readonly string[];
  args: unknown;
  requestId: string;
  idempotencyKey?: string | undefined;
  /** The request's logger (request id, tenant, user bound). */
  log: Logger;
}

export type SubmitOutcome =
  /** The tool is unknown or not enabled for the tenant: a protocol error for the caller. */
  | { kind: 'unknown' }
  | { kind: 'invalid'; message: string }
  | { kind: 'refused'; code: string; message: string; retryAfterMs?: number; connect?: ConnectLink }
  | { kind: 'accepted'; call: ToolCall; enqueued: boolean };

/**
 * DESIGN §3 steps 3–4 as a plain function: decide (packages/policy), validate, admit and record (call row + `accepted` audit row
 * in one statement), then enqueue. A call is never acknowledged before its row is committed; if Redis
 * is away the row stays `queued` and the reconciler enqueues it later.
 */
export async function submitCall(r: ApiResources, input: SubmitInput): Promise<SubmitOutcome> {
  const { scope, user, tool } = input;
  // Enabled for the tenant: decided before anything else, so a disabled tool looks like no tool.
  const early = decideToolCall({ tenant: input.tenant, tool, tokenScopes: undefined, credential: undefined });
  if (!early.allow && (early.code === 'unknown_tool' || early.code === 'tool_disabled')) return { kind: 'unknown' };
  const parsed = parseArguments(tool, input.args);
  // Bad input: a tool execution error naming the field; nothing recorded, nothing queued.
  if (!parsed.ok) return { kind: 'invalid', message: parsed.message };

  const deny = async (code: string, message: string): Promise<SubmitOutcome> => {
    await scope.audit.append({
      userId: user.id,
      clientId: input.clientId,
      tool: tool.name,
      action: 'tool_call.refused',
      decision: 'deny',
      reason: code,
      requestId: input.requestId,
    });
    return { kind: 'refused', code, message };
  };

  // The one policy decision (packages/policy), with the token's scopes and the credential as stored.
  // The route's step-up check is only a fast path for the 403 challenge: this is the check that holds.
  const credential = tool.upstream ? await scope.credentials.get(user.id, tool.upstream.provider) : undefined;
  const decision = decideToolCall({ tenant: input.tenant, tool, tokenScopes: input.tokenScopes, credential: credential ?? null });
  if (!decision.allow) {
    const reason = decision.code === 'insufficient_scope' ? `insufficient_scope: ${decision.requiredScope}` : decision.code;
    const out = await deny(reason, decision.message);
    if (out.kind !== 'refused') return out;
    // Missing or too narrow upstream credential: the user can fix it at the connect route (issue 8 §8).
    const connect = decision.connect && connectLinkOf(r, input.tenant, user.id, decision.connect);
    return { ...out, code: decision.code, ...(connect ? { connect, message: `${decision.message} Connect at ${connect.url}` } : {}) };
  }

  // A repeated idempotency key must mean the same request (Stripe's rule): the earlier call's answer
  // for the same tool and arguments, an error for anything else — never the earlier call's result.
  // The earlier call is shown (and waited for) only as the policy's call rule lets this token see it:
  // another app's call under the same key is refused like a different request, never shown.
  const replay = (existing: ToolCall): Promise<SubmitOutcome> | SubmitOutcome =>
    sameRequest(r, existing, tool.name, parsed.value) && mayRead(r.registry, { scopes: input.tokenScopes, clientId: input.clientId }, existing)
      ? { kind: 'accepted', call: existing, enqueued: true }
      : deny(
          'idempotency_key_reused',
          `This idempotency key was already used for a different request (another tool or other arguments); send a new key for a new request.`,
        );
  if (input.idempotencyKey) {
    const existing = await scope.toolCalls.byIdempotencyKey(user.id, input.idempotencyKey);
    if (existing) return replay(existing);
  }

  // Call rates (rate-limiter-flexible on Redis): per user and per tenant, refused with the delay.
  const rate = await r.rates.check(input.tenant, user.id);
  if (!rate.ok) {
    const seconds = Math.ceil(rate.retryAfterMs / 1000);
    const who = rate.scope === 'user' ? 'you' : 'this tenant';
    const out = await deny('rate_limited', `Rate limit reached: at most ${rate.limit} calls per minute for ${who}; retry in ${seconds} s.`);
    return out.kind === 'refused' ? { ...out, retryAfterMs: rate.retryAfterMs } : out;
  }

  // Admission control, the call row and its `accepted` audit row: one atomic statement (call-statements.ts).
  const cap = input.tenant.limits.pendingCap;
  const id = newCallId();
  // Sensitive arguments: "[redacted]" in the row (and so in the REST view and any copy of it), the
  // real values sealed to this call for the worker. Nothing to do for tools without any (echo's
  // hot path: a field lookup).
  const secret = sensitiveValues(tool, parsed.value);
  let recorded;
  try {
    recorded = await r.db.calls.record(scope.tenantId, {
      id,
      userId: user.id,
      clientId: input.clientId ?? null,
      tool: tool.name,
      arguments: redactArguments(tool, parsed.value),
      idempotencyKey: input.idempotencyKey ?? null,
      argsHash: input.idempotencyKey ? requestHash(r.keyring, tool.name, parsed.value) : null,
      sealedArgs: secret ? sealCallArguments(r.keyring, { tenantId: scope.tenantId, userId: user.id, callId: id }, secret) : null,
      requestId: input.requestId,
      pendingCap: cap,
    });
  } catch (e) {
    // Two requests with one idempotency key raced: the other one recorded the call.
    const existing =
      (e as { code?: string }).code === '23505' && input.idempotencyKey ? await scope.toolCalls.byIdempotencyKey(user.id, input.idempotencyKey) : undefined;
    if (existing) return replay(existing);
    throw e;
  }
  // A user with too many calls in flight is refused (retryable) before anything is queued.
  if (!recorded.admitted) return deny('too_many_pending', `Too many calls in progress (${recorded.pending}, limit ${cap}); retry when some have finished.`);
  const call = recorded.call;

  try {
    await r.producer.enqueue(buildJobPayload(call, credential ?? undefined));
    if (r.log.isLevelEnabled('info')) input.log.info({ callId: call.id, tool: tool.name }, 'tool call accepted');
    return { kind: 'accepted', call, enqueued: true };
  } catch (e) {
    r.metrics.enqueueFailures.inc();
    input.log.warn({ callId: call.id, tool: tool.name, code: e instanceof AppError ? e.code : 'unknown' }, 'enqueue failed; reconciler will retry');
    return { kind: 'accepted', call, enqueued: false };
  }
}

/**
 * Whether `existing` (found by the same idempotency key) was made from this tool and these arguments:
 * by its keyed request hash; for a row without one (recorded before the hash existed, or under a key
 * since removed from the keyring), by tool and stored (redacted) arguments.
 */
function sameRequest(r: ApiResources, existing: ToolCall, tool: string, args: Record<string, unknown>): boolean {
  if (existing.tool !== tool) return false;
  const byHash = existing.argsHash ? requestHashMatches(r.keyring, existing.argsHash, tool, args) : undefined;
  if (byHash !== undefined) return byHash;
  const t = r.registry.get(tool);
  return t !== undefined && canonicalJson(existing.arguments) === canonicalJson(redactArguments(t, args));
}
