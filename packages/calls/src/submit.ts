import type { Tenant, User } from '@mcprt/db';
import { AppError } from '@mcprt/errors';
import { canonicalJson, requestHash, requestHashMatches, sealCallArguments, sealCallInput, type Keyring } from '@mcprt/keyring';
import type { Logger } from '@mcprt/observability';
import { approvalNeeded, decideToolCall, decideToolReach, principalKind, type ApprovalRule } from '@mcprt/policy';
import { parseArguments, redactArguments, sensitiveValues, type AnyTool, type ToolRegistry } from '@mcprt/tools';
import { mayRead } from './access.js';
import { newCallId } from './call-id.js';
import type { CallStatements } from './call-statements.js';
import { connectLinkOf, type ConnectLink } from './connect-link.js';
import { enqueueCall, type EnqueueDeps } from './enqueue.js';
import type { Producer } from './producer.js';
import type { ToolCall } from './schema.js';
import type { TenantScope } from './tenant-scope.js';

export interface SubmitDeps extends EnqueueDeps {
  /** The producer's queue: a refused call's early job is removed from it. */
  producer: EnqueueDeps['producer'] & { queue: Pick<Producer['queue'], 'remove'> };
  db: EnqueueDeps['db'] & { calls: Pick<CallStatements, 'record'> };
  registry: Pick<ToolRegistry, 'get'>;
  /** Seals sensitive arguments for the worker and keys the idempotency request hash. */
  keyring: Keyring;
  rates: { check(tenant: Pick<Tenant, 'id' | 'limits'>, userId: string): Promise<RateVerdict> };
  config: { PUBLIC_URL: string; APPROVAL_TTL_S: number };
  log: Pick<Logger, 'isLevelEnabled'>;
  metrics: { enqueueFailures: { inc(): void }; rateLimitRefusals: { inc(labels: { scope: 'user' | 'tenant' }): void } };
}

export type RateVerdict = { ok: true } | { ok: false; scope: 'user' | 'tenant'; limit: number; retryAfterMs: number };

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
  /** The client's answers to the tool's input requests (MCP multi-round-trip requests): sealed beside the row for the run. */
  inputResponses?: Record<string, unknown> | undefined;
  /** Record it as a task waiting for more answers (`awaiting_input`) instead of queueing it. */
  awaitInput?: boolean;
  /** Holds the request's logger (request id, tenant, user bound), which may be built on first read. */
  logs: { readonly log: Pick<Logger, 'info' | 'warn'> };
}

export type SubmitOutcome =
  /** The tool is unknown or not enabled for the tenant: a protocol error for the caller. */
  | { kind: 'unknown' }
  | { kind: 'invalid'; message: string }
  | { kind: 'refused'; code: string; message: string; retryAfterMs?: number; connect?: ConnectLink }
  | { kind: 'accepted'; call: ToolCall; enqueued: boolean };

type Refused = Extract<SubmitOutcome, { kind: 'refused' }>;

/**
 * Submit: decide (packages/policy), validate, admit and record (call row + `accepted` audit row in
 * one statement), and enqueue: while the row commits, behind the admission gate, for a call with no
 * approval to wait for and no idempotency key; after the commit otherwise. A call is never
 * acknowledged, nor run by a worker, before its row is committed; if Redis is away the row stays
 * `queued` and the reconciler enqueues it later. Every refusal after the tool
 * is known writes a `tool_call.refused` audit row.
 */
export async function submitCall(r: SubmitDeps, input: SubmitInput): Promise<SubmitOutcome> {
  const { tool } = input;
  // Enabled for the tenant: decided before anything else, so a disabled tool looks like no tool.
  const early = decideToolReach({ tenant: input.tenant, tool, tokenScopes: undefined });
  if (!early.allow && (early.code === 'unknown_tool' || early.code === 'tool_disabled')) return { kind: 'unknown' };
  const parsed = parseArguments(tool, input.args);
  // Bad input: a tool execution error naming the field; nothing recorded, nothing queued.
  if (!parsed.ok) return { kind: 'invalid', message: parsed.message };

  // The one policy decision, with the token's scopes and the credential as stored. The route's
  // step-up check is only a fast path for the 403 challenge: this is the check that holds.
  const principal = principalKind(input.user);
  const credential = tool.upstream && principal === 'person' ? await input.scope.credentials.get(input.user.id, tool.upstream.provider) : undefined;
  const decision = decideToolCall({ tenant: input.tenant, tool, tokenScopes: input.tokenScopes, credential: credential ?? null, principal });
  if (!decision.allow) return refuseByPolicy(r, input, decision);

  if (input.idempotencyKey) {
    const existing = await input.scope.toolCalls.byIdempotencyKey(input.user.id, input.idempotencyKey);
    if (existing) return replay(r, input, existing, parsed.value);
  }
  // Call rates (rate-limiter-flexible on Redis): per user and per tenant, refused with the delay.
  const rate = await r.rates.check(input.tenant, input.user.id);
  if (!rate.ok) {
    r.metrics.rateLimitRefusals.inc({ scope: rate.scope });
    const seconds = Math.ceil(rate.retryAfterMs / 1000);
    const who = rate.scope === 'user' ? 'you' : 'this tenant';
    const out = await deny(input, 'rate_limited', `Rate limit reached: at most ${rate.limit} calls per minute for ${who}; retry in ${seconds} s.`);
    return { ...out, retryAfterMs: rate.retryAfterMs };
  }
  // The tenant's approval rules: such a call is recorded waiting, and nothing enqueues it until approved.
  const approval = approvalNeeded(input.tenant.approvalRules, tool.name, parsed.value);
  // Nothing to wait for (no approval, no client input) and nothing to replay (no idempotency key): the
  // job may be added as the record leaves, before its commit (statements/admission-gate.ts).
  const gated = approval || input.idempotencyKey || input.awaitInput ? undefined : earlyEnqueue(r, input, credential ?? null);
  const recorded = await record(r, input, parsed.value, approval, gated?.start);
  if (recorded.kind !== 'recorded') {
    gated?.discard();
    return recorded;
  }
  if (recorded.call.status === 'awaiting_approval' || recorded.call.status === 'awaiting_input')
    return { kind: 'accepted', call: recorded.call, enqueued: false };
  return enqueueAccepted(r, input, recorded.call, credential ?? null, gated?.added());
}

/**
 * The job of a call being recorded, added as soon as `start` is told the record has left (once). A
 * call that was not admitted has its job removed again (`discard`, not awaited), so nothing stays
 * queued for it; a worker that took the job first hears the refusal (or finds no row) and skips it.
 */
function earlyEnqueue(r: SubmitDeps, input: SubmitInput, credential: Parameters<typeof enqueueCall>[2]) {
  let added: Promise<void> | undefined;
  let id: string | undefined;
  return {
    discard() {
      const jobId = id;
      if (added && jobId) void added.then(() => r.producer.queue.remove(jobId)).catch(() => undefined);
    },
    start(callId: string) {
      if (added) return;
      id = callId;
      const source = { id: callId, tenantId: input.scope.tenantId, userId: input.user.id, tool: input.tool.name, requestId: input.requestId };
      added = enqueueCall(r, source, credential, true);
      added.catch(() => undefined); // read by enqueueAccepted, or dropped with a call that was not admitted
    },
    added: () => added,
  };
}

/** A refusal after the tool is known: its `tool_call.refused` audit row (deny, reason = the code). */
async function deny(input: SubmitInput, code: string, message: string): Promise<Refused> {
  await input.scope.audit.append({
    userId: input.user.id,
    clientId: input.clientId,
    tool: input.tool.name,
    action: 'tool_call.refused',
    decision: 'deny',
    reason: code,
    requestId: input.requestId,
  });
  return { kind: 'refused', code, message };
}

/** The policy said no: audited; a missing or too narrow upstream credential carries the link where the user fixes it. */
async function refuseByPolicy(
  r: SubmitDeps,
  input: SubmitInput,
  decision: { code: string; message: string; requiredScope?: string; connect?: { provider: string; scopes: string[] } | undefined },
): Promise<Refused> {
  const reason = decision.code === 'insufficient_scope' ? `insufficient_scope: ${decision.requiredScope}` : decision.code;
  const out = await deny(input, reason, decision.message);
  const connect = decision.connect && connectLinkOf(r, input.tenant, input.user.id, decision.connect);
  return { ...out, code: decision.code, ...(connect ? { connect, message: `${decision.message} Connect at ${connect.url}` } : {}) };
}

/**
 * A repeated idempotency key must mean the same request: the earlier call's answer for the same tool
 * and arguments, an error for anything else — never the earlier call's result. The earlier call is
 * shown (and waited for) only as the access rule lets this token see it: another app's call under
 * the same key is refused like a different request, never shown.
 */
async function replay(r: SubmitDeps, input: SubmitInput, existing: ToolCall, args: Record<string, unknown>): Promise<SubmitOutcome> {
  if (sameRequest(r, existing, input.tool.name, args) && mayRead(r.registry, { scopes: input.tokenScopes, clientId: input.clientId }, existing))
    return { kind: 'accepted', call: existing, enqueued: true };
  return deny(
    input,
    'idempotency_key_reused',
    `This idempotency key was already used for a different request (another tool or other arguments); send a new key for a new request.`,
  );
}

/**
 * Admission control, the call row and its `accepted` audit row: one atomic statement. Sensitive
 * arguments are "[redacted]" in the row (and so in the REST view and any copy of it), their real
 * values sealed to this call for the worker; nothing to do for tools without any.
 */
async function record(
  r: SubmitDeps,
  input: SubmitInput,
  args: Record<string, unknown>,
  approval?: ApprovalRule,
  held?: (id: string) => void,
): Promise<SubmitOutcome | { kind: 'recorded'; call: ToolCall }> {
  const { scope, user, tool } = input;
  const cap = input.tenant.limits.pendingCap;
  const id = newCallId();
  const secret = sensitiveValues(tool, args);
  let recorded;
  try {
    recorded = await r.db.calls.record(
      scope.tenantId,
      {
        id,
        userId: user.id,
        clientId: input.clientId ?? null,
        tool: tool.name,
        arguments: redactArguments(tool, args),
        idempotencyKey: input.idempotencyKey ?? null,
        // The approval is bound to these exact arguments: a call that needs one always carries the hash.
        argsHash: input.idempotencyKey || approval ? requestHash(r.keyring, tool.name, args) : null,
        sealedArgs: secret ? sealCallArguments(r.keyring, { tenantId: scope.tenantId, userId: user.id, callId: id }, secret) : null,
        sealedInput: sealedInputOf(r, input, id),
        awaitInput: input.awaitInput === true,
        // A task waiting for its client's answers waits as long as one waiting for approval.
        inputExpiresAt: input.awaitInput ? new Date(Date.now() + r.config.APPROVAL_TTL_S * 1000) : undefined,
        requestId: input.requestId,
        pendingCap: cap,
        approval: approval && { approver: approval.approver, expiresAt: new Date(Date.now() + r.config.APPROVAL_TTL_S * 1000) },
      },
      held && (() => held(id)),
    );
  } catch (e) {
    // Two requests with one idempotency key raced: the other one recorded the call.
    const existing =
      (e as { code?: string }).code === '23505' && input.idempotencyKey ? await scope.toolCalls.byIdempotencyKey(user.id, input.idempotencyKey) : undefined;
    if (existing) return replay(r, input, existing, args);
    throw e;
  }
  // A user with too many calls in flight is refused (retryable); a job added behind the gate is removed (earlyEnqueue).
  if (!recorded.admitted)
    return deny(input, 'too_many_pending', `Too many calls in progress (${recorded.pending}, limit ${cap}); retry when some have finished.`);
  return { kind: 'recorded', call: recorded.call };
}

/** The recorded call onto the queue; Redis away: accepted all the same, the reconciler enqueues it later. */
async function enqueueAccepted(
  r: SubmitDeps,
  input: SubmitInput,
  call: ToolCall,
  credential: Parameters<typeof enqueueCall>[2],
  added?: Promise<void>,
): Promise<SubmitOutcome> {
  try {
    await (added ?? enqueueCall(r, call, credential));
    if (r.log.isLevelEnabled('info')) input.logs.log.info({ callId: call.id, tool: input.tool.name }, 'tool call accepted');
    return { kind: 'accepted', call, enqueued: true };
  } catch (e) {
    r.metrics.enqueueFailures.inc();
    input.logs.log.warn({ callId: call.id, tool: input.tool.name, code: e instanceof AppError ? e.code : 'unknown' }, 'enqueue failed; reconciler will retry');
    return { kind: 'accepted', call, enqueued: false };
  }
}

/**
 * Whether `existing` (found by the same idempotency key) was made from this tool and these arguments:
 * by its keyed request hash; for a row without one (recorded before the hash existed, or under a key
 * since removed from the keyring), by tool and stored (redacted) arguments.
 */
function sameRequest(r: Pick<SubmitDeps, 'keyring' | 'registry'>, existing: ToolCall, tool: string, args: Record<string, unknown>): boolean {
  if (existing.tool !== tool) return false;
  const byHash = existing.argsHash ? requestHashMatches(r.keyring, existing.argsHash, tool, args) : undefined;
  if (byHash !== undefined) return byHash;
  const t = r.registry.get(tool);
  return t !== undefined && canonicalJson(existing.arguments) === canonicalJson(redactArguments(t, args));
}

/** The answers sealed to this call (none for a tool that asked nothing, unless it waits for them). */
function sealedInputOf(r: Pick<SubmitDeps, 'keyring'>, input: SubmitInput, callId: string): string | null {
  const responses = input.inputResponses;
  if (!input.awaitInput && (!responses || Object.keys(responses).length === 0)) return null;
  return sealCallInput(r.keyring, { tenantId: input.scope.tenantId, userId: input.user.id, callId }, responses ?? {});
}
