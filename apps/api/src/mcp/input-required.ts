import { randomBytes } from 'node:crypto';
import type { InputRequiredResult, ServerContext } from '@modelcontextprotocol/server';
import { appError } from '@mcprt/errors';
import { openRequestState, requestHash, requestHashMatches, sealRequestState, type Keyring, type RequestStateBinding } from '@mcprt/keyring';
import { decideToolReach, principalKind } from '@mcprt/policy';
import {
  checkInputResponses,
  MAX_INPUT_BYTES,
  parseArguments,
  tooLargeInput,
  type AnyTool,
  type ClientInputCapabilities,
  type InputRequests,
  type InputResponses,
} from '@mcprt/tools';
import { z } from 'zod';
import type { RequestIdentity } from './request-identity.js';

/**
 * MCP 2026-07-28 multi-round-trip requests (InputRequiredResult) for tools that declare inputs
 * (`inputs.needs` of the definition). Evaluated here, before anything is recorded or queued:
 *
 * 1. The request's `requestState`, if any, is opened: sealed by the keyring (purpose
 *    `request_state`), bound to tenant, user, OAuth client and tool, and inside it the keyed hash of
 *    the arguments, the round, an expiry and the responses of earlier rounds. Anything else — edited,
 *    another user's, tenant's, app's or tool's, other arguments, expired — is -32602 with the
 *    catalogue's message, and nothing is recorded.
 * 2. The request's `inputResponses` that answer an outstanding request are validated (zod, by the
 *    request's method); keys nobody asked for are ignored; a wrong shape is -32602 naming the key.
 * 3. Still something to ask: an InputRequiredResult with those requests and a new sealed state
 *    (audit `tool_call.input_required`, the round and the keys asked, never the answers). Nothing to
 *    ask: the call is submitted with every answer, sealed beside the row for the worker.
 */

/** How long a request state is good for. */
export const REQUEST_STATE_TTL_MS = 15 * 60_000;
/** Most rounds one request may take. */
export const MAX_ROUNDS = 10;

const statePayload = z
  .object({
    v: z.literal(1),
    /** Keyed hash of (tool, arguments): the state holds for these arguments only. */
    h: z.string().max(200),
    r: z.number().int().min(1).max(MAX_ROUNDS),
    exp: z.number().int(),
    /** Random: the idempotency key of the call the final round records (a state records one call at most). */
    n: z.string().max(64),
    s: z.record(z.string(), z.unknown()),
  })
  .strict();
type StatePayload = z.infer<typeof statePayload>;

export type Gathered =
  | { kind: 'ask'; result: InputRequiredResult }
  /** Every answer in (or the call is to be refused by submit: unknown, out of scope, bad arguments). */
  | { kind: 'ready'; responses: InputResponses; nonce?: string | undefined }
  /** A `viaTask` tool asked for a task: record it waiting for its answers (`awaiting_input`), answered through tasks/update. */
  | { kind: 'park'; responses: InputResponses };

interface GatherInput {
  keyring: Keyring;
  who: RequestIdentity;
  tool: AnyTool;
  args: unknown;
  ctx: ServerContext;
  /** The request takes a task (2026-07-28, the extension declared, the tool not `forbidden`). */
  asTask: boolean;
}

const CLIENT_CAPABILITIES = 'io.modelcontextprotocol/clientCapabilities';

/** The client capabilities a 2026-07-28 request declares in its `_meta` envelope (undefined: none). */
export function envelopeCapabilities(envelope: unknown): Record<string, unknown> | undefined {
  if (typeof envelope !== 'object' || envelope === null) return undefined;
  const caps = (envelope as Record<string, unknown>)[CLIENT_CAPABILITIES];
  return typeof caps === 'object' && caps !== null ? (caps as Record<string, unknown>) : undefined;
}

/** What the request's envelope declares it can answer. */
export function inputCapabilities(envelope: unknown): ClientInputCapabilities {
  const caps = envelopeCapabilities(envelope) ?? {};
  const has = (k: string) => typeof caps[k] === 'object' && caps[k] !== null;
  return { elicitation: has('elicitation'), sampling: has('sampling'), roots: has('roots') };
}

/** Size of a value as JSON, refusing anything over the cap. */
export function assertInputSize(value: unknown): void {
  if (tooLargeInput(value)) throw appError('input_responses_too_large', `The input responses are larger than ${MAX_INPUT_BYTES} bytes.`);
}

/** One round of a tools/call of a tool that declares inputs (see the module comment). */
export async function gatherInput(g: GatherInput): Promise<Gathered> {
  const { who, tool, ctx } = g;
  const declaration = tool.inputs!;
  const parsed = parseArguments(tool, g.args);
  // A call that will be refused anyway asks nothing first: submit refuses it (and audits it) as usual.
  const reach = decideToolReach({ tenant: who.tenant, tool, tokenScopes: who.token.scopes, principal: principalKind(who.user) });
  if (!parsed.ok || !reach.allow) return { kind: 'ready', responses: {} };
  const binding: RequestStateBinding = { tenantId: who.tenant.id, userId: who.user.id, clientId: who.token.clientId, tool: tool.name };
  const raw = ctx.mcpReq.requestState();
  const state = typeof raw === 'string' ? openState(g.keyring, binding, raw, tool.name, parsed.value) : undefined;
  const given = ctx.mcpReq.inputResponses;
  assertInputSize(given);
  const caps = inputCapabilities(ctx.mcpReq.envelope);
  const prior = state?.s ?? {};
  const check = checkInputResponses(declaration.needs(parsed.value, prior, caps), given);
  if (!check.ok) throw appError('input_responses_invalid', `The input response "${check.key}" does not answer what was asked: ${check.problem}`);
  const responses = { ...prior, ...check.accepted };
  assertInputSize(responses);
  const next = declaration.needs(parsed.value, responses, caps);
  if (Object.keys(next).length === 0) return { kind: 'ready', responses, nonce: state?.n };
  if (declaration.viaTask && g.asTask && !state) return { kind: 'park', responses };
  const round = (state?.r ?? 0) + 1;
  if (round > MAX_ROUNDS) throw appError('input_rounds_exceeded');
  const payload: StatePayload = {
    v: 1,
    h: requestHash(g.keyring, tool.name, parsed.value),
    r: round,
    exp: Date.now() + REQUEST_STATE_TTL_MS,
    n: randomBytes(16).toString('base64url'),
    s: responses,
  };
  await auditRound(who, tool, round, next);
  // The tools package keeps its own (narrower) request types: the SDK's are structurally wider.
  return {
    kind: 'ask',
    result: {
      resultType: 'input_required',
      inputRequests: next as InputRequiredResult['inputRequests'],
      requestState: sealRequestState(g.keyring, binding, payload),
    },
  };
}

/** The request state, opened and checked against this request; -32602 with the catalogue's message otherwise. */
function openState(keyring: Keyring, binding: RequestStateBinding, sealed: string, tool: string, args: Record<string, unknown>): StatePayload {
  let opened: unknown;
  try {
    opened = openRequestState(keyring, binding, sealed);
  } catch {
    throw appError('request_state_invalid');
  }
  const state = statePayload.safeParse(opened);
  // The arguments' keyed hash: the state of one request does not carry answers into another.
  if (!state.success || requestHashMatches(keyring, state.data.h, tool, args) !== true) throw appError('request_state_invalid');
  if (state.data.exp <= Date.now()) throw appError('request_state_expired');
  return state.data;
}

/** The round's audit row: which keys were asked in which round (never an answer). */
export async function auditRound(who: RequestIdentity, tool: AnyTool, round: number, asked: InputRequests): Promise<void> {
  await who.scope.audit.append({
    userId: who.user.id,
    clientId: who.token.clientId,
    tool: tool.name,
    action: 'tool_call.input_required',
    decision: 'info',
    reason: `round:${round} asked:${Object.keys(asked).join(',')}`,
    requestId: who.requestId,
  });
}
