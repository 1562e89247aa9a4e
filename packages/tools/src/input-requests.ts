import { z } from 'zod';

/**
 * What a tool may ask the client for before it runs (MCP 2026-07-28 multi-round-trip requests): the
 * three embedded requests of that revision, the response each must be, and the declaration a tool
 * makes. The declaration is evaluated in the API, never in the worker: a call is recorded and queued
 * only once every answer is in, so no worker ever waits for a person.
 */

/** A JSON Schema of the flat object an elicitation asks for (the spec allows primitives only). */
export interface ElicitationSchema {
  type: 'object';
  properties: Record<string, Record<string, unknown>>;
  required?: string[];
}

export type InputRequest =
  | { method: 'elicitation/create'; params: { message: string; requestedSchema: ElicitationSchema } }
  | {
      method: 'sampling/createMessage';
      params: { messages: { role: 'user' | 'assistant'; content: { type: 'text'; text: string } }[]; maxTokens: number; systemPrompt?: string };
    }
  | { method: 'roots/list'; params: Record<string, never> };

/** Input requests by key (server-minted, not secret). */
export type InputRequests = Record<string, InputRequest>;

/** Validated responses by key (each the response schema of its request's method, below). */
export type InputResponses = Record<string, unknown>;

/** The client capabilities an input request needs, as the request declared them. */
export interface ClientInputCapabilities {
  elicitation: boolean;
  sampling: boolean;
  roots: boolean;
}

/**
 * A tool's declaration of the inputs it needs. `needs` must be pure (same arguments, responses and
 * capabilities → same requests, same keys): the API calls it on every round and again on every
 * `tasks/update`, and trusts nothing else about earlier rounds.
 */
export interface InputDeclaration<A> {
  needs(args: A, responses: InputResponses, client: ClientInputCapabilities): InputRequests;
  /**
   * With the tasks extension declared, the call is a task at once, waiting `input_required` for
   * its answers through `tasks/update` (instead of InputRequiredResult rounds before it exists).
   */
  viaTask?: boolean;
}

const primitive = z.union([z.string().max(10_000), z.number(), z.boolean(), z.array(z.string().max(1_000)).max(100), z.null()]);

/** ElicitResult: the user's action and, on accept, the flat object asked for. */
export const elicitResult = z.looseObject({
  action: z.enum(['accept', 'decline', 'cancel']),
  content: z.record(z.string().max(100), primitive).optional(),
});
const textOrMedia = z.looseObject({ type: z.string().max(50) });
/** CreateMessageResult: the model's message. */
export const samplingResult = z.looseObject({
  role: z.enum(['user', 'assistant']),
  content: z.union([textOrMedia, z.array(textOrMedia).max(100)]),
  model: z.string().max(200),
  stopReason: z.string().max(100).optional(),
});
/** ListRootsResult: the client's roots. */
export const rootsResult = z.looseObject({
  roots: z.array(z.looseObject({ uri: z.string().max(2_000), name: z.string().max(500).optional() })).max(100),
});

const RESPONSE_OF = {
  'elicitation/create': elicitResult,
  'sampling/createMessage': samplingResult,
  'roots/list': rootsResult,
} as const;

/** The capability each method needs. */
export const CAPABILITY_OF = { 'elicitation/create': 'elicitation', 'sampling/createMessage': 'sampling', 'roots/list': 'roots' } as const;

/** Most bytes (JSON) of the answers one request may carry, and one call may gather. */
export const MAX_INPUT_BYTES = 64 * 1024;

/** Whether a value is larger, as JSON, than one call's answers may be. */
export const tooLargeInput = (value: unknown): boolean => value !== undefined && Buffer.byteLength(JSON.stringify(value) ?? '') > MAX_INPUT_BYTES;

export type ResponsesCheck = { ok: true; accepted: InputResponses } | { ok: false; key: string; problem: string };

/**
 * The responses that answer an outstanding request, each validated against its method's result
 * schema. Keys nobody asked for are ignored (the spec: a server ignores what it does not
 * recognise); a response of the wrong shape for a key that was asked is refused, naming the key.
 */
export function checkInputResponses(asked: InputRequests, given: Record<string, unknown> | undefined): ResponsesCheck {
  const accepted: InputResponses = {};
  if (!given) return { ok: true, accepted };
  for (const [key, request] of Object.entries(asked)) {
    if (!Object.hasOwn(given, key)) continue;
    const r = RESPONSE_OF[request.method].safeParse(given[key]);
    if (!r.success) return { ok: false, key, problem: r.error.issues.map((i) => `${i.path.join('.') || '(response)'}: ${i.message}`).join('; ') };
    accepted[key] = r.data;
  }
  return { ok: true, accepted };
}

/** The content of an accepted elicitation response, or undefined (declined, cancelled, absent). */
export function acceptedContent(response: unknown): Record<string, unknown> | undefined {
  const r = elicitResult.safeParse(response);
  return r.success && r.data.action === 'accept' ? (r.data.content ?? {}) : undefined;
}

/** An elicitation of a flat object with the given string fields, all required. */
export function elicitText(message: string, fields: Record<string, string>): InputRequest {
  return {
    method: 'elicitation/create',
    params: {
      message,
      requestedSchema: {
        type: 'object',
        properties: Object.fromEntries(Object.entries(fields).map(([k, description]) => [k, { type: 'string', description }])),
        required: Object.keys(fields),
      },
    },
  };
}
