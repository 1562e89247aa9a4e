import { ProtocolError, ProtocolErrorCode, type Server } from '@modelcontextprotocol/server';
import { answerTaskInput, cancelUserCall, decideCallApproval, isFinal, pendingInput, readableCall, type TaskInputDeps, type ToolCall } from '@mcprt/calls';
import { z } from 'zod';
import { toCallToolResult } from '../calls/call-result.js';
import { approvalPageUrl, toolCallUrl } from '../http/urls.js';
import type { Config } from '@mcprt/config';
import type { InputRequests, ToolRegistry } from '@mcprt/tools';
import { assertInputSize, envelopeCapabilities, inputCapabilities } from './input-required.js';
import type { RequestIdentity } from './request-identity.js';

/**
 * MCP tasks, as the 2026-07-28 `io.modelcontextprotocol/tasks` extension defines them
 * (modelcontextprotocol/ext-tasks, specification/draft/tasks.md). The SDK 2.4.0 ships the wire
 * vocabulary only, no tasks runtime or store: this module is ours.
 *
 * - The store is `tool_calls`: a task id is the call id (128 random bits, unguessable), so any API
 *   replica answers any task request, and a task is as durable as its call row.
 * - Every task request is authenticated (the route's bearer check) and authorised again here: the
 *   call must belong to the request's tenant *and* user, and the policy's call rule must let the
 *   request's token see it (`decideCallAccess`: the app that made it, with its tool scope, or
 *   `calls:read`). Another user's task id, and one the token may not see, answers exactly like an
 *   unknown one (-32602 "Task not found"). Cancelling another app's task needs `calls:cancel`.
 * - Status: `queued`/`running` → `working`; `succeeded`, and `failed` (a tool error: the spec keeps
 *   `failed` for JSON-RPC errors) → `completed` with the same CallToolResult a plain call gets;
 *   `cancelled` → `cancelled`; `awaiting_approval` of a call its own user must approve →
 *   `input_required` with one input request, a URL elicitation of the approval page (a `decline`
 *   response in `tasks/update` denies the call); one a tenant approver must approve → `working`.
 *   A call waiting for its client's answers (`awaiting_input`, a tool declaring `inputs.viaTask`) →
 *   `input_required` with the requests still outstanding; `tasks/update` answers them (the engine's
 *   task-input.ts). `tasks/update` otherwise acknowledges (the spec: responses for keys not
 *   outstanding are ignored).
 */
export const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';
/** -32021: Missing Required Client Capability (2026-07-28). */
const MISSING_CAPABILITY = -32021;

/**
 * -32021 (HTTP 400) when a 2026-07-28 request does not declare a client capability the tool needs
 * (`clientCapabilities` of its definition), before anything is recorded: the server never relies on
 * a capability the client has not declared.
 */
export function assertClientCapabilities(envelope: unknown, needed: readonly string[] | undefined): void {
  if (!needed?.length) return;
  const caps = envelopeCapabilities(envelope) ?? {};
  const missing = needed.filter((c) => typeof caps[c] !== 'object' || caps[c] === null);
  if (missing.length === 0) return;
  throw new ProtocolError(MISSING_CAPABILITY, `Missing required client capability: ${missing.join(', ')}`, {
    requiredCapabilities: Object.fromEntries(missing.map((c) => [c, {}])),
  });
}

/** Whether the request's own capabilities (its `_meta` envelope) declare the tasks extension. */
export function declaresTasks(envelope: unknown): boolean {
  const ext = envelopeCapabilities(envelope)?.extensions;
  return typeof ext === 'object' && ext !== null && TASKS_EXTENSION in ext;
}

export const missingCapability = () =>
  new ProtocolError(MISSING_CAPABILITY, `Missing required client capability: the ${TASKS_EXTENSION} extension`, {
    requiredCapabilities: { extensions: { [TASKS_EXTENSION]: {} } },
  });
const notFound = () => new ProtocolError(ProtocolErrorCode.InvalidParams, 'Failed to retrieve task: Task not found');

type TaskConfig = Pick<Config, 'TASK_TTL_MS' | 'TASK_POLL_INTERVAL_MS'>;

/** What the tasks methods use: the call engine's cancel, the registry, and the settings a task carries. */
export type TaskDeps = Parameters<typeof cancelUserCall>[0] &
  Parameters<typeof decideCallApproval>[0] &
  TaskInputDeps & { config: TaskConfig & Pick<Config, 'PUBLIC_URL'>; registry: ToolRegistry };

/**
 * The `Task` fields of a call (no inlined payload). A call waiting for its user's approval is
 * `input_required`: a URL elicitation of the approval page. A call waiting for its client's answers
 * (`awaiting_input`) is `input_required` with the requests still outstanding (`inputRequests`, given
 * by tasks/get; a CreateTaskResult carries none).
 */
function taskOf(call: ToolCall, config: TaskConfig & Pick<Config, 'PUBLIC_URL'>, slug: string, inputRequests?: InputRequests) {
  const status = call.status === 'cancelled' ? 'cancelled' : failedInternally(call) ? 'failed' : isFinal(call) ? 'completed' : 'working';
  const updated = call.finishedAt ?? call.startedAt ?? call.createdAt;
  const base = {
    taskId: call.id,
    createdAt: call.createdAt.toISOString(),
    lastUpdatedAt: updated.toISOString(),
    ttlMs: config.TASK_TTL_MS,
    pollIntervalMs: config.TASK_POLL_INTERVAL_MS,
  } as const;
  if (call.status === 'awaiting_input')
    return {
      ...base,
      status: 'input_required' as const,
      statusMessage: 'The tool call is waiting for your answers.',
      ...(inputRequests ? { inputRequests } : {}),
    };
  if (call.status === 'awaiting_approval' && call.approver === 'user') {
    const url = approvalPageUrl(config.PUBLIC_URL, slug, call.id);
    const message = `This call needs your approval before it runs: open the page to see exactly what will run, then approve or deny it.`;
    return {
      ...base,
      status: 'input_required' as const,
      statusMessage: message,
      inputRequests: { [APPROVAL_INPUT]: { method: 'elicitation/create', params: { mode: 'url', message, url } } },
    };
  }
  return {
    ...base,
    status,
    ...(status === 'working'
      ? {
          statusMessage:
            call.status === 'awaiting_approval'
              ? 'The tool call is waiting for approval by an approver of your organisation.'
              : `The tool call is ${call.status}.`,
        }
      : {}),
    ...(status === 'cancelled' ? { statusMessage: 'The tool call was cancelled.' } : {}),
  };
}

/** The key of the approval's input request in an `input_required` task (a `decline` response to it denies the call). */
export const APPROVAL_INPUT = 'approval';

/**
 * A call that failed inside the runtime (an unexpected error, not one the tool reported): the
 * extension keeps `failed` for such protocol-level errors; a tool's own error is `completed` with
 * `result.isError`.
 */
const failedInternally = (call: ToolCall) => call.status === 'failed' && call.error?.code === 'internal_error';

/**
 * The `result` of a completed task: the CallToolResult the original tools/call would have answered,
 * *as it is on the wire* in 2026-07-28 — with `resultType: "complete"`, which that revision requires on
 * every CallToolResult and which the SDK stamps only on a handler's top-level result, never on one
 * nested in another. Without it the official tasks client (`@modelcontextprotocol/ext-tasks`) rejects
 * the task ("Protocol value failed schema validation") and never hands over the result.
 */
function taskResult(call: ToolCall, r: { config: Pick<Config, 'PUBLIC_URL'>; registry: Pick<ToolRegistry, 'get'> }, who: Pick<RequestIdentity, 'tenant'>) {
  return {
    resultType: 'complete' as const,
    ...toCallToolResult(call, r.registry.get(call.tool), toolCallUrl(r.config.PUBLIC_URL, who.tenant.slug, call.id)),
  };
}

/** CreateTaskResult: what a tools/call answers when it becomes a task (`resultType: "task"`). */
export const createTaskResult = (call: ToolCall, config: TaskConfig & Pick<Config, 'PUBLIC_URL'>, slug: string) => ({
  resultType: 'task' as const,
  ...taskOf(call, config, slug),
});

const taskParams = z.looseObject({ taskId: z.string().max(64) });
const updateParams = z.looseObject({ taskId: z.string().max(64), inputResponses: z.record(z.string(), z.unknown()).optional() });

/**
 * tasks/get, tasks/update and tasks/cancel on a modern-era server. `ctx.mcpReq.envelope` carries
 * the request's declared capabilities: a client that did not declare the extension gets -32021.
 */
export function registerTaskHandlers(
  mcp: Server,
  r: TaskDeps,
  who: RequestIdentity,
  wrap: <A extends unknown[], R>(h: (...a: A) => Promise<R>) => (...a: A) => Promise<R>,
): void {
  type Ctx = { mcpReq: { envelope?: unknown; inputResponses?: Record<string, unknown> } };
  /** The request's own call, as the policy lets its token see it, or -32602 exactly as for an id that never existed. */
  const own = async (taskId: string, ctx: Ctx): Promise<ToolCall> => {
    if (!declaresTasks(ctx.mcpReq.envelope)) throw missingCapability();
    const call = await readableCall(r.registry, who.scope.toolCalls, who.user.id, who.token, taskId);
    if (!call) throw notFound();
    return call;
  };

  mcp.setRequestHandler(
    'tasks/get',
    { params: taskParams },
    wrap(async (p: z.infer<typeof taskParams>, ctx: Ctx) => {
      const call = await own(p.taskId, ctx);
      const input = call.status === 'awaiting_input' ? pendingInput(r, call, inputCapabilities(ctx.mcpReq.envelope)) : undefined;
      const task = taskOf(call, r.config, who.tenant.slug, input?.outstanding);
      if (task.status === 'failed') return { ...task, error: { code: ProtocolErrorCode.InternalError, message: call.error?.message ?? 'internal error' } };
      if (task.status !== 'completed') return task;
      return { ...task, result: taskResult(call, r, who) };
    }),
  );

  mcp.setRequestHandler(
    'tasks/update',
    { params: updateParams },
    wrap(async (p: z.infer<typeof updateParams>, ctx: Ctx) => {
      const call = await own(p.taskId, ctx);
      // The one input request a task of ours can have: the approval of a call waiting for its user.
      // Declining it in the client denies the call (a denial is always safe to take); approving
      // happens only on the approval page, which shows exactly what will run. Any other response is
      // for a key that is not outstanding, which the spec says to ignore. Acknowledged with {}.
      // The SDK lifts a request's `inputResponses` (a 2026-07-28 retry field) out of params into the context.
      const responses = ctx.mcpReq.inputResponses ?? p.inputResponses;
      // A task waiting for its client's answers (task-input.ts in the engine): the answers to outstanding requests.
      if (call.status === 'awaiting_input') {
        assertInputSize(responses);
        await answerTaskInput(r, { call, given: responses, caps: inputCapabilities(ctx.mcpReq.envelope), requestId: who.requestId });
      }
      if (call.status === 'awaiting_approval' && call.approver === 'user' && declined(responses?.[APPROVAL_INPUT]))
        await decideUserApproval(r, who, call, false);
      return {};
    }),
  );

  mcp.setRequestHandler(
    'tasks/cancel',
    { params: taskParams },
    wrap(async (p: z.infer<typeof taskParams>, ctx: Ctx) => {
      const call = await own(p.taskId, ctx);
      // Cancelling a finished task changes nothing (the spec: cancellation is eventually consistent and
      // may end in another terminal status); the acknowledgement is the same.
      if (!isFinal(call)) {
        const out = await cancelUserCall(r, who, call.id);
        if (out.outcome === 'not_found') throw notFound();
        if (out.outcome === 'forbidden') throw new ProtocolError(ProtocolErrorCode.InvalidParams, `${out.message}; ask the user to allow it`);
      }
      return {};
    }),
  );
}

/** An elicitation result that declines (ElicitResult `action: "decline"`). */
const declined = (response: unknown): boolean => z.looseObject({ action: z.literal('decline') }).safeParse(response).success;

/** The user declined, in their client, the approval of a call of theirs: denied (audited as theirs), and it never runs. */
async function decideUserApproval(r: TaskDeps, who: RequestIdentity, call: ToolCall, approve: boolean): Promise<void> {
  await decideCallApproval(r, {
    tenantId: who.tenant.id,
    callId: call.id,
    approve,
    argsHash: call.argsHash ?? '',
    actor: { kind: 'user', userId: who.user.id },
    requestId: who.requestId,
  });
}
