import { appError } from '@mcprt/errors';
import { openCallArguments, openCallInput, sealCallInput, type Keyring } from '@mcprt/keyring';
import {
  checkInputResponses,
  MAX_INPUT_BYTES,
  parseArguments,
  tooLargeInput,
  type ClientInputCapabilities,
  type InputRequests,
  type InputResponses,
  type ToolRegistry,
} from '@mcprt/tools';
import type { CallStatements } from './call-statements.js';
import { enqueueCall, type EnqueueDeps } from './enqueue.js';
import type { ToolCall } from './schema.js';

/**
 * A task waiting for its client's answers (`awaiting_input`, MCP multi-round-trip requests through
 * the tasks extension): what it still asks, and the answers `tasks/update` brings. The requests are
 * the tool's own declaration (`inputs.needs`) evaluated on the call's arguments and the answers so
 * far, which are sealed to the call beside the row; nothing else about earlier updates is kept.
 */
export interface TaskInputDeps extends EnqueueDeps {
  db: EnqueueDeps['db'] & { calls: Pick<CallStatements, 'provideInput' | 'byId'> };
  keyring: Keyring;
  registry: Pick<ToolRegistry, 'get'>;
}

export interface PendingInput {
  args: Record<string, unknown>;
  responses: InputResponses;
  outstanding: InputRequests;
}

const idsOf = (call: ToolCall) => ({ tenantId: call.tenantId, userId: call.userId, callId: call.id });

/** The answers so far and the requests still outstanding of a call waiting for input (undefined for any other call). */
export function pendingInput(r: Pick<TaskInputDeps, 'keyring' | 'registry'>, call: ToolCall, caps: ClientInputCapabilities): PendingInput | undefined {
  const tool = r.registry.get(call.tool);
  if (call.status !== 'awaiting_input' || !tool?.inputs) return undefined;
  const raw = call.sealedArgs ? { ...call.arguments, ...openCallArguments(r.keyring, idsOf(call), call.sealedArgs) } : call.arguments;
  const parsed = parseArguments(tool, raw);
  if (!parsed.ok) return undefined;
  const responses = call.sealedInput ? openCallInput(r.keyring, idsOf(call), call.sealedInput) : {};
  return { args: parsed.value, responses, outstanding: tool.inputs.needs(parsed.value, responses, caps) };
}

export type TaskInputOutcome = 'ignored' | 'partial' | 'queued';

/**
 * `tasks/update`: the answers to outstanding requests are validated (zod, by method; a wrong shape
 * is refused naming the key), merged with the earlier ones and sealed back in one fenced statement;
 * with the last one the call is queued and enqueued. Answers to keys not outstanding are ignored
 * (the extension says so). Two updates at once: each merges onto what the other wrote.
 */
export async function answerTaskInput(
  r: TaskInputDeps,
  input: { call: ToolCall; given: Record<string, unknown> | undefined; caps: ClientInputCapabilities; requestId: string },
): Promise<TaskInputOutcome> {
  let call: ToolCall | undefined = input.call;
  for (let attempt = 0; attempt < 5 && call; attempt++) {
    const pending = pendingInput(r, call, input.caps);
    if (!pending) return 'ignored';
    const check = checkInputResponses(pending.outstanding, input.given);
    if (!check.ok) throw appError('input_responses_invalid', `The input response "${check.key}" does not answer what was asked: ${check.problem}`);
    const keys = Object.keys(check.accepted);
    if (keys.length === 0) return 'ignored';
    const responses = { ...pending.responses, ...check.accepted };
    if (tooLargeInput(responses)) throw appError('input_responses_too_large', `The input responses are larger than ${MAX_INPUT_BYTES} bytes.`);
    const complete = Object.keys(r.registry.get(call.tool)!.inputs!.needs(pending.args, responses, input.caps)).length === 0;
    const updated = await r.db.calls.provideInput(call.tenantId, {
      id: call.id,
      previous: call.sealedInput,
      sealedInput: sealCallInput(r.keyring, idsOf(call), responses),
      complete,
      reason: `answered:${keys.join(',')}${complete ? ' complete' : ''}`,
      requestId: input.requestId,
    });
    if (updated) {
      // Recorded `queued`: if Redis is away the reconciler enqueues it.
      if (complete) await enqueueCall(r, updated).catch(() => undefined);
      return complete ? 'queued' : 'partial';
    }
    call = await r.db.calls.byId(call.tenantId, call.id);
  }
  return 'ignored';
}
