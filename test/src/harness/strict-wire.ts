import { CallToolResultV1Schema } from '@modelcontextprotocol/ext-tasks/core/v1';
import {
  CallToolResultV2Schema,
  CancelTaskResultV2Schema,
  CreateTaskResultV2Schema,
  ErrorV2Schema,
  GetTaskResultV2Schema,
  ToolV2Schema,
  UpdateTaskResultV2Schema,
} from '@modelcontextprotocol/ext-tasks/core/v2';

/**
 * Every JSON-RPC answer an MCP client receives, checked against the published schemas of the revision
 * it speaks — nested results included — as the official tasks client (`@modelcontextprotocol/ext-tasks`)
 * checks them. The schemas are ext-tasks' own (generated from the pinned 2026-07-28 and 2025-11-25
 * schemas), so a test fails on any answer an official client would reject, even one the SDK client
 * (which fills defaults such as a missing `resultType`) lets through.
 *
 * Use: `const wire = strictWire()`, give `wire.fetch` to the client transports, and after the test
 * `expect(await wire.problems()).toEqual([])`.
 */

const PROTOCOL_VERSION_META = 'io.modelcontextprotocol/protocolVersion';

type Json = Record<string, unknown>;
interface Schema {
  safeParse(v: unknown): { success: boolean; error?: unknown };
}

const issues = (schema: Schema, value: unknown): string | undefined => {
  const r = schema.safeParse(value);
  return r.success ? undefined : JSON.stringify((r.error as { issues?: unknown }).issues ?? r.error);
};

/** What is wrong with one answer to `method` (empty: it conforms). */
export function answerProblems(method: string, modern: boolean, answer: { result?: unknown; error?: unknown }): string[] {
  const out: string[] = [];
  const add = (where: string, p: string | undefined) => {
    if (p) out.push(`${method} (${modern ? '2026-07-28' : '2025-11-25'}) ${where}: ${p}`);
  };
  if (answer.error !== undefined) {
    add('error', issues(ErrorV2Schema, answer.error));
    return out;
  }
  const result = answer.result as Json;
  if (typeof result !== 'object' || result === null || Array.isArray(result)) return [`${method}: result is not an object`];
  if (!modern) {
    if (method === 'tools/call') add('result', issues(CallToolResultV1Schema, result));
    return out;
  }
  // 2026-07-28: every result names its type; `task` only where a task may answer (tools/call).
  const type = result.resultType;
  if (type !== 'complete' && type !== 'input_required' && !(type === 'task' && method === 'tools/call'))
    add('result', `resultType ${JSON.stringify(type)} is not allowed here`);
  switch (method) {
    case 'tools/call':
      add('result', issues(type === 'task' ? CreateTaskResultV2Schema : CallToolResultV2Schema, result));
      break;
    case 'tasks/get':
      add('result', issues(GetTaskResultV2Schema, result));
      // The nested result of a completed task is the original request's result (a CallToolResult).
      if (result.status === 'completed') add('result.result', issues(CallToolResultV2Schema, result.result));
      break;
    case 'tools/list':
      if (!Array.isArray(result.tools)) add('result.tools', 'not an array');
      else result.tools.forEach((t: unknown, n: number) => add(`result.tools[${n}]`, issues(ToolV2Schema, t)));
      break;
    case 'tasks/update':
      add('result', issues(UpdateTaskResultV2Schema, result));
      break;
    case 'tasks/cancel':
      add('result', issues(CancelTaskResultV2Schema, result));
      break;
  }
  return out;
}

/** The JSON-RPC messages of a response body: one JSON message (or a batch), or an SSE stream's `data:` lines. */
function messagesOf(contentType: string, text: string): Json[] {
  const parse = (s: string): Json[] => {
    try {
      const v = JSON.parse(s) as unknown;
      return (Array.isArray(v) ? v : [v]).filter((m): m is Json => typeof m === 'object' && m !== null);
    } catch {
      return [];
    }
  };
  if (contentType.startsWith('application/json')) return parse(text);
  if (!contentType.startsWith('text/event-stream')) return [];
  return text
    .split(/\r?\n\r?\n/)
    .map((event) =>
      event
        .split(/\r?\n/)
        .filter((l) => l.startsWith('data:'))
        .map((l) => l.slice(5).replace(/^ /, ''))
        .join('\n'),
    )
    .filter(Boolean)
    .flatMap(parse);
}

export interface StrictWire {
  /** A fetch for client transports: it checks every answer to a request it carried. */
  fetch: typeof fetch;
  /** Every checked answer, by method (for asserting that a path was really exercised). */
  seen: { method: string; modern: boolean; message: Json }[];
  /** Waits until every answer received so far has been read and checked. */
  settled(): Promise<void>;
  /** Waits for the answers still streaming, then lists (and forgets) every problem found so far. */
  problems(): Promise<string[]>;
}

export function strictWire(base: typeof fetch = fetch): StrictWire {
  const found: string[] = [];
  const seen: StrictWire['seen'] = [];
  const reading: Promise<void>[] = [];
  const checked: typeof fetch = async (input, init) => {
    const res = await base(input, init);
    let request: Json | undefined;
    try {
      request = typeof init?.body === 'string' ? (JSON.parse(init.body) as Json) : undefined;
    } catch {
      request = undefined;
    }
    if (!request || Array.isArray(request) || request.id === undefined || typeof request.method !== 'string') return res;
    const method = request.method;
    const meta = (request.params as { _meta?: Json } | undefined)?._meta;
    const modern = typeof meta?.[PROTOCOL_VERSION_META] === 'string';
    const type = res.headers.get('content-type') ?? '';
    reading.push(
      res
        .clone()
        .text()
        .then((text) => {
          for (const m of messagesOf(type, text)) {
            if (m.id !== request.id || (!('result' in m) && !('error' in m))) continue;
            seen.push({ method, modern, message: m });
            found.push(...answerProblems(method, modern, m as { result?: unknown; error?: unknown }));
          }
        })
        // A stream the client closed on purpose (a cancelled request) has no answer to check.
        .catch(() => undefined),
    );
    return res;
  };
  return {
    fetch: checked,
    seen,
    async settled() {
      await Promise.all(reading);
    },
    async problems() {
      await Promise.all(reading.splice(0));
      return found.splice(0);
    },
  };
}
