import { randomBytes } from 'node:crypto';
import type { Server, ServerContext } from '@modelcontextprotocol/server';
import { appError } from '@mcprt/errors';
import { decideToolReach, principalKind } from '@mcprt/policy';
import {
  CAPABILITY_OF,
  checkInputResponses,
  parseArguments,
  tooLargeInput,
  type AnyTool,
  type ClientInputCapabilities,
  type InputResponses,
} from '@mcprt/tools';
import { z } from 'zod';
import { auditRound, MAX_ROUNDS } from './input-required.js';
import { relayKey, type ReplicaRelay } from './replica-relay.js';
import type { RequestIdentity } from './request-identity.js';

/**
 * The same input declarations for a 2025-11-25 client, which has no InputRequiredResult: the API
 * sends the requests itself (`elicitation/create`, `sampling/createMessage`, `roots/list`) on the
 * tools/call's own response stream (SSE), and loops until the declaration asks nothing more; then
 * the call is submitted as for a 2026-07-28 client. The client answers each request on a new POST;
 * this endpoint is stateless, so that answer may reach any API replica: it is matched by (tenant,
 * user, OAuth client, request id) through the relay (replica-relay.ts), here or on the replica that
 * waits. Ids are random (`mcprt-input-…`), never the SDK's per-server counter.
 */
const ID_PREFIX = 'mcprt-input-';
/** How long one round waits for the client's answers (a person may be typing). */
const ROUND_TIMEOUT_MS = 120_000;

type Who = Pick<RequestIdentity, 'tenant' | 'user' | 'token'>;

/** A client's answer: its `result`, or the message of its JSON-RPC error. */
export type InputAnswer = { result: unknown } | { error: string };
/** An answer as it may arrive from another replica. */
export const inputAnswerSchema: z.ZodType<InputAnswer> = z.union([
  z.object({ result: z.unknown() }).strict(),
  z.object({ error: z.string().max(200) }).strict(),
]);
export type InputAnswerRelay = ReplicaRelay<InputAnswer>;

/**
 * A POST whose body is a client's answer to one of our requests (a JSON-RPC response with one of our
 * ids): its routing key and answer, to hand to `relay.route` (this replica or another). Anything
 * else (every other request: checked without allocating) is left to the SDK (undefined). The key is
 * the answering request's own identity: another user's or app's answer never meets this user's request.
 */
export function inputAnswerOf(who: Who, body: unknown): { key: string; answer: InputAnswer } | undefined {
  if (typeof body !== 'object' || body === null || Array.isArray(body) || 'method' in body) return undefined;
  const m = body as { id?: unknown; result?: unknown; error?: { message?: unknown } };
  if (typeof m.id !== 'string' || !m.id.startsWith(ID_PREFIX) || m.id.length > 100) return undefined;
  const answer =
    m.result !== undefined
      ? { result: m.result }
      : { error: typeof m.error?.message === 'string' ? m.error.message.slice(0, 200) : 'the client refused the request' };
  return { key: relayKey(who, m.id), answer };
}

/** One request to the client on the tools/call's stream, and its answer (or a timeout, or the request's end). */
async function ask(mcp: Server, relay: InputAnswerRelay, who: Who, ctx: ServerContext, request: { method: string; params: unknown }): Promise<unknown> {
  const id = `${ID_PREFIX}${randomBytes(16).toString('base64url')}`;
  const waiting = await relay.expect(relayKey(who, id));
  let timer: NodeJS.Timeout | undefined;
  let onAbort: (() => void) | undefined;
  const ended = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error('the client did not answer in time')), ROUND_TIMEOUT_MS);
    onAbort = () => reject(new Error('the request ended'));
    ctx.mcpReq.signal.addEventListener('abort', onAbort, { once: true });
  });
  ended.catch(() => undefined); // raced below; a send that throws first must not leave it unhandled
  try {
    await mcp.transport!.send(
      { jsonrpc: '2.0', id, method: request.method, params: request.params as Record<string, unknown> },
      { relatedRequestId: ctx.mcpReq.id },
    );
    const a = await Promise.race([waiting.message, ended]);
    if ('error' in a) throw new Error(a.error);
    return a.result;
  } finally {
    clearTimeout(timer);
    if (onAbort) ctx.mcpReq.signal.removeEventListener('abort', onAbort);
    waiting.release();
  }
}

/**
 * Every round of a tool's input declaration for a 2025 client; the answers when complete, or a
 * message for a tool error (the client cannot answer what the tool needs, or did not).
 */
export async function gatherLegacyInput(
  mcp: Server,
  g: { who: RequestIdentity; tool: AnyTool; args: unknown; ctx: ServerContext; caps: ClientInputCapabilities; relay: InputAnswerRelay },
): Promise<{ responses: InputResponses } | { refused: string }> {
  const parsed = parseArguments(g.tool, g.args);
  // A call that will be refused anyway asks nothing first: submit refuses it (and audits it) as usual.
  const reach = decideToolReach({ tenant: g.who.tenant, tool: g.tool, tokenScopes: g.who.token.scopes, principal: principalKind(g.who.user) });
  if (!parsed.ok || !reach.allow) return { responses: {} };
  let responses: InputResponses = {};
  for (let round = 1; round <= MAX_ROUNDS; round++) {
    const asked = g.tool.inputs!.needs(parsed.value, responses, g.caps);
    const keys = Object.keys(asked);
    if (keys.length === 0) return { responses };
    const undeclared = keys.find((k) => !g.caps[CAPABILITY_OF[asked[k]!.method]]);
    if (undeclared) return { refused: `${g.tool.name} needs ${asked[undeclared]!.method}, which this client did not declare at initialize.` };
    await auditRound(g.who, g.tool, round, asked);
    let answers: unknown[];
    try {
      answers = await Promise.all(keys.map((k) => ask(mcp, g.relay, g.who, g.ctx, asked[k]!)));
    } catch (e) {
      return { refused: `${g.tool.name} asked for input the client did not give: ${(e as Error).message}.` };
    }
    const check = checkInputResponses(asked, Object.fromEntries(keys.map((k, i) => [k, answers[i]])));
    if (!check.ok) throw appError('input_responses_invalid', `The input response "${check.key}" does not answer what was asked: ${check.problem}`);
    responses = { ...responses, ...check.accepted };
    if (tooLargeInput(responses)) throw appError('input_responses_too_large');
  }
  throw appError('input_rounds_exceeded');
}
