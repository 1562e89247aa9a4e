import {
  ProtocolError,
  type Server,
  ProtocolErrorCode,
  type CallToolRequest,
  type CallToolResult,
  type InputRequiredResult,
  type ProtocolEra,
  type ServerContext,
} from '@modelcontextprotocol/server';
import type { answerTaskInput, CallLogFollower, decideCallApproval } from '@mcprt/calls';
import { awaitCall, cancelUserCall, eitherAborted, isFinal, submitCall, type SubmitOutcome, type ToolCall } from '@mcprt/calls';
import { activeSpan } from '@mcprt/observability';
import { z } from 'zod';
import { logWanted, requestLogLevel, type AnyTool } from '@mcprt/tools';
import { RESULT_TOOL, toCallToolResult } from '../calls/call-result.js';
import { approvalPageUrl, toolCallUrl } from '../http/urls.js';
import type { Config } from '@mcprt/config';
import type { ToolRegistry } from '@mcprt/tools';
import type { OutageLog } from '../http/outage.js';
import { appError } from '@mcprt/errors';
import { askToConnect, connectOfError, reauthLink, upgradeLink } from './connect-answer.js';
import { legacyInputCapabilities, legacyLogLevel } from './client-capabilities.js';
import { gatherInput, type Gathered } from './input-required.js';
import { gatherLegacyInput, type InputAnswerRelay } from './legacy-input.js';
import { relayKey, type ReplicaRelay } from './replica-relay.js';
import type { RequestIdentity } from './request-identity.js';
import { assertClientCapabilities, createTaskResult, declaresTasks, missingCapability } from './tasks.js';
import { callToolCallResult } from './tool-call-result.js';

/**
 * What a request's MCP server uses: the call engine's submit, await and cancel, the connect links,
 * the tool registry, the outage log, the settings of the waits, and the drain signal.
 */
export type McpDeps = Parameters<typeof submitCall>[0] &
  Parameters<typeof awaitCall>[0] &
  Parameters<typeof cancelUserCall>[0] &
  Parameters<typeof decideCallApproval>[0] &
  Parameters<typeof answerTaskInput>[0] &
  Parameters<typeof askToConnect>[0] &
  Parameters<typeof reauthLink>[0] & {
    /** Where a 2025 client's answers to the requests of a tool's input declaration meet them (replica-relay.ts). */
    inputAnswers: InputAnswerRelay;
    /** Where a 2025 client's `notifications/cancelled` meets the tools/call it names (replica-relay.ts). */
    legacyCancels: ReplicaRelay<LegacyCancel>;
    /** Tools' log messages, followed for the request that made the call (tool-log.ts in @mcprt/tools). */
    callLogs: Pick<CallLogFollower, 'follow'>;
    config: Pick<
      Config,
      | 'PUBLIC_URL'
      | 'RETRY_AFTER_S'
      | 'CALL_WAIT_MS'
      | 'APPROVAL_TTL_S'
      | 'TASK_WAIT_MS'
      | 'PROGRESS_WAIT_MS'
      | 'PROGRESS_INTERVAL_MS'
      | 'TASK_TTL_MS'
      | 'TASK_POLL_INTERVAL_MS'
    >;
    registry: ToolRegistry;
    outages: Pick<OutageLog, 'report'>;
    /** Aborted when the API drains: waits end and answer with the call id. */
    drain?: AbortSignal;
  };

/** Key under `params._meta` a client may set to make a tools/call idempotent (same key → same call). */
export const IDEMPOTENCY_META = 'io.mcprt/idempotency-key';

const isIdempotencyKey = (key: unknown): key is string => typeof key === 'string' && /^[\x21-\x7e]{1,128}$/.test(key);

/**
 * A 2025-era `notifications/cancelled` names the JSON-RPC id of a tools/call sent earlier, on another
 * POST, which a load balancer may have sent to another API replica. A tools/call of that era that
 * waits holds its key — (tenant, user, OAuth client, request id) — in the cancel relay
 * (replica-relay.ts); the notification is routed to it, here or at the replica that holds it. Two
 * apps of one user numbering their requests alike do not collide, and another user's or app's
 * notification never finds the call. The cancel is put to the access rule with the notifying token's
 * scopes, at whichever replica carries it out, and audited with the notifying request's id.
 */
export type LegacyCancel = { scopes: string[]; requestId: string | null };
/** A relayed cancel as it may arrive from another replica. */
export const legacyCancelSchema: z.ZodType<LegacyCancel> = z
  .object({ scopes: z.array(z.string().max(200)).max(1_000), requestId: z.string().max(200).nullable() })
  .strict();
const legacyCancelKey = (who: RequestIdentity, requestId: string | number) => relayKey(who, `${typeof requestId}:${requestId}`);

/** The 2025 `notifications/cancelled` handler: the cancel goes where its tools/call waits. */
export function registerLegacyCancel(mcp: Server, r: McpDeps, who: RequestIdentity): void {
  mcp.setNotificationHandler('notifications/cancelled', async (n) => {
    if (n.params.requestId === undefined) return;
    const cancel: LegacyCancel = { scopes: [...who.token.scopes], requestId: who.requestId ?? null };
    await r.legacyCancels
      .route(legacyCancelKey(who, n.params.requestId), cancel)
      .catch((err: unknown) => who.log.warn({ err }, 'notifications/cancelled: could not route the cancel'));
  });
}

/** Carry out a routed cancel for the call `who`'s tools/call waits on: as the notifying token may. */
const cancelWaitedCall = (r: McpDeps, who: RequestIdentity, callId: string) => async (c: LegacyCancel) =>
  cancelUserCall(r, { tenant: who.tenant, user: who.user, token: { scopes: c.scopes, clientId: who.token.clientId }, requestId: c.requestId }, callId).catch(
    (err: unknown) => who.log.warn({ err, callId }, 'notifications/cancelled: could not cancel the call'),
  );

type Answer = CallToolResult | InputRequiredResult;

/** One tools/call request as the handlers below see it. */
interface Turn {
  r: McpDeps;
  who: RequestIdentity;
  era: ProtocolEra;
  signal: AbortSignal;
  req: CallToolRequest;
  ctx: ServerContext;
  /** The request's own server (a 2025 client's input is asked through it: legacy-input.ts). */
  mcp?: Server;
}

/**
 * tools/call over the engine: submit (@mcprt/calls), wait as the request's era and capabilities
 * say, and answer with the result, a task, a "still running" result or the link to connect a
 * provider.
 */
export async function answerToolCall(turn: Turn): Promise<Answer> {
  const { r, who, era, signal, req, ctx } = turn;
  if (req.params.name === RESULT_TOOL) return callToolCallResult(r, who, req.params.arguments, signal);
  // MCP: an unknown tool is a protocol error, not a tool execution error.
  const unknown = () => new ProtocolError(ProtocolErrorCode.InvalidParams, `Unknown tool: ${req.params.name}`);
  const tool = r.registry.get(req.params.name);
  if (!tool) throw unknown();
  if (era !== 'legacy') {
    assertClientCapabilities(ctx.mcpReq.envelope, tool.clientCapabilities);
    // A tool that is always a task cannot answer a client that does not take tasks.
    if (tool.taskSupport === 'required' && !declaresTasks(ctx.mcpReq.envelope)) throw missingCapability();
  }
  const key = req.params._meta?.[IDEMPOTENCY_META];
  if (key !== undefined && !isIdempotencyKey(key))
    return { content: [{ type: 'text', text: `${IDEMPOTENCY_META} must be 1 to 128 visible ASCII characters` }], isError: true };
  // Only a tool that declares inputs pays for this (input-required.ts).
  const input = tool.inputs ? await inputFirst(turn, tool) : undefined;
  if (input?.kind === 'ask') return input.result;
  if (input?.kind === 'legacy') return input.answer;
  const outcome = await submitCall(r, {
    tenant: who.tenant,
    scope: who.scope,
    user: who.user,
    clientId: who.token.clientId,
    tool,
    tokenScopes: who.token.scopes,
    args: req.params.arguments,
    requestId: who.requestId,
    logs: who,
    // A final round's state records one call at most: repeats of it find that call (its nonce is the key).
    idempotencyKey: key ?? (input?.kind === 'ready' && input.nonce ? `mrtr.${input.nonce}` : undefined),
    inputResponses: input?.responses,
    awaitInput: input?.kind === 'park',
  });
  if (outcome.kind === 'unknown') throw unknown();
  if (outcome.kind !== 'accepted') return notAccepted(r, who, era, ctx, outcome);
  activeSpan()?.setAttribute('mcprt.call.id', outcome.call.id);
  return answerAccepted(turn, tool, outcome);
}

/** The input round of a tool that declares inputs: InputRequiredResult rounds (2026-07-28), or requests on the stream (2025-11-25). */
async function inputFirst(turn: Turn, tool: AnyTool): Promise<Gathered | { kind: 'legacy'; answer: CallToolResult }> {
  const { r, who, era, ctx, req } = turn;
  if (era !== 'legacy') {
    const asTask = tool.taskSupport !== 'forbidden' && declaresTasks(ctx.mcpReq.envelope);
    return gatherInput({ keyring: r.keyring, who, tool, args: req.params.arguments, ctx, asTask });
  }
  const toolError = (text: string): { kind: 'legacy'; answer: CallToolResult } => ({
    kind: 'legacy',
    answer: { content: [{ type: 'text', text }], isError: true, _meta: { 'io.mcprt/error': { code: 'input_unsupported' } } },
  });
  const caps = turn.mcp && (await legacyInputCapabilities(r, who));
  if (!caps) return toolError(`${tool.name}: ${appError('input_unsupported').message}.`);
  const got = await gatherLegacyInput(turn.mcp!, { who, tool, args: req.params.arguments, ctx, caps, relay: r.inputAnswers });
  return 'refused' in got ? toolError(got.refused) : { kind: 'ready', responses: got.responses };
}

/** A call that was not recorded: the tool error (with the connect link, or the retry delay). */
function notAccepted(
  r: McpDeps,
  who: RequestIdentity,
  era: ProtocolEra,
  ctx: ServerContext,
  outcome: Exclude<SubmitOutcome, { kind: 'accepted' | 'unknown' }>,
) {
  if (outcome.kind === 'invalid') return { content: [{ type: 'text' as const, text: outcome.message }], isError: true };
  if (outcome.connect) return askToConnect(r, who, era, ctx, outcome.connect, outcome.message, outcome.code);
  return {
    content: [{ type: 'text' as const, text: outcome.message }],
    isError: true,
    _meta: {
      'io.mcprt/error':
        outcome.retryAfterMs === undefined ? { code: outcome.code } : { code: outcome.code, retryable: true, retryAfterMs: outcome.retryAfterMs },
    },
  };
}

async function answerAccepted(turn: Turn, tool: AnyTool, outcome: Extract<SubmitOutcome, { kind: 'accepted' }>): Promise<Answer> {
  const { r, who, era, signal, ctx } = turn;
  const pollUrl = toolCallUrl(r.config.PUBLIC_URL, who.tenant.slug, outcome.call.id);
  let call = outcome.call;
  if (isFinal(call)) return toCallToolResult(call, tool, pollUrl);
  // How long to wait, and what the answer becomes if the call outlives it:
  // - a 2026-07-28 request declaring the tasks extension: a short wait, then a task;
  // - a request with a progressToken: progress notifications over SSE while waiting (longer);
  // - otherwise CALL_WAIT_MS, then a plain "still running" result (not an error).
  const asTask = era !== 'legacy' && tool.taskSupport !== 'forbidden' && declaresTasks(ctx.mcpReq.envelope);
  // Not enqueued (Redis away: the reconciler enqueues it later; or waiting for approval): answer now, without waiting.
  // A tool that is always a task: answered as one at once, without waiting.
  if (!outcome.enqueued || (asTask && tool.taskSupport === 'required')) {
    if (asTask) return createTaskResult(call, r.config, who.tenant.slug) as unknown as CallToolResult;
    const approvalUrl =
      call.status === 'awaiting_approval' && call.approver === 'user' ? approvalPageUrl(r.config.PUBLIC_URL, who.tenant.slug, call.id) : undefined;
    return toCallToolResult(call, tool, pollUrl, approvalUrl);
  }
  call = await waitForCall(turn, call, asTask, tool);
  // 2026-07-28 has no `notifications/cancelled` over HTTP: a client cancels a request by closing
  // its response stream (the SDK client does exactly that on cancel or timeout). A 2025 client's
  // hang-up is not a cancel (it sends notifications/cancelled).
  if (era !== 'legacy' && signal.aborted && !r.drain?.aborted && !isFinal(call)) await cancelUserCall(r, who, call.id);
  if (asTask && !isFinal(call)) return createTaskResult(call, r.config, who.tenant.slug) as unknown as CallToolResult;
  // Refused at dequeue for the same reason (the credential changed meanwhile): the same link. A
  // refresh the provider refused (`reauth_required`, credential-refresh.ts) names only the route:
  // the link is made here, for this user.
  const details = call.error?.details;
  const link = call.status === 'failed' ? (connectOfError(details) ?? reauthLink(r, who, tool, details) ?? upgradeLink(r, who, details)) : undefined;
  if (link && call.error) return askToConnect(r, who, era, ctx, link, call.error.message, call.error.code);
  return toCallToolResult(call, tool, pollUrl);
}

/**
 * A tool that logs: its messages at or above the level the request asked for (2026-07-28: the
 * request's `_meta`; 2025-11-25: the client's remembered `logging/setLevel`), as
 * `notifications/message` on this request's stream while it waits. Asked for nothing: nothing is sent.
 */
async function followLogs(turn: Turn, callId: string): Promise<(() => void) | undefined> {
  const { r, who, era, ctx } = turn;
  const min = era === 'legacy' ? await legacyLogLevel(r, who) : requestLogLevel(ctx.mcpReq.envelope);
  if (!min) return undefined;
  return r.callLogs.follow(who.tenant.id, callId, (m) => {
    if (logWanted(m.level, min))
      ctx.mcpReq
        .notify({ method: 'notifications/message', params: { level: m.level, ...(m.logger ? { logger: m.logger } : {}), data: m.data } })
        .catch(() => undefined);
  });
}

/** The wait (the engine's awaitCall), with progress notifications when asked for and the 2025 cancel hook. */
async function waitForCall(turn: Turn, call: ToolCall, asTask: boolean, tool: AnyTool): Promise<ToolCall> {
  const { r, who, era, signal, req, ctx } = turn;
  const progressToken = req.params._meta?.progressToken;
  const tick =
    !asTask && progressToken !== undefined
      ? {
          everyMs: r.config.PROGRESS_INTERVAL_MS,
          fn: (elapsedMs: number) =>
            ctx.mcpReq.notify({
              method: 'notifications/progress',
              params: { progressToken, progress: Math.round(elapsedMs / 1000), message: `Tool call ${call.id} is still running.` },
            }),
        }
      : undefined;
  const timeoutMs = asTask ? Math.min(r.config.TASK_WAIT_MS, r.config.CALL_WAIT_MS) : tick ? r.config.PROGRESS_WAIT_MS : r.config.CALL_WAIT_MS;
  const release = era === 'legacy' ? r.legacyCancels.hold(legacyCancelKey(who, ctx.mcpReq.id), cancelWaitedCall(r, who, call.id)) : undefined;
  const unfollow = tool.logs && !asTask ? await followLogs(turn, call.id) : undefined;
  try {
    return await awaitCall(r, who, call, { timeoutMs, signal: eitherAborted(signal, r.drain), fresh: true, tick });
  } finally {
    unfollow?.();
    release?.();
  }
}
