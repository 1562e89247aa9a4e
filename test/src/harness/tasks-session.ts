import { Client, StreamableHTTPClientTransport, type JSONRPCMessage } from '@modelcontextprotocol/client';
import {
  createTaskSessionFromClient,
  DispatchError,
  type JsonRpcResponse,
  type RawClientDispatch,
  type TaskEnabledSession,
} from '@modelcontextprotocol/ext-tasks/client';
import type { JsonValue } from '@modelcontextprotocol/ext-tasks/core';
import type { ErrorV2 } from '@modelcontextprotocol/ext-tasks/core/v2';

/**
 * The official MCP tasks client: `@modelcontextprotocol/ext-tasks` (`createTaskSessionFromClient`)
 * on a connected `@modelcontextprotocol/client` Client, as its documentation wires it.
 *
 * - 2026-07-28 (`era: 'modern'`): the Client negotiates 2026-07-28 and declares the tasks extension.
 *   ext-tasks needs a host "raw dispatch" for tools/call and tasks/* (the SDK Client refuses a
 *   `resultType: "task"` answer): here a second SDK `StreamableHTTPClientTransport` that owns its own
 *   request ids and matches the answers — the SDK's transport, not a hand-rolled HTTP client (it sets
 *   `MCP-Protocol-Version`, `Mcp-Method` and `Mcp-Name` from the framed body).
 * - 2025-11-25 (`era: 'legacy'`): the Client's `initialize` handshake; ext-tasks reads the server's
 *   2025 capabilities (no `tasks`: that revision's task augmentation is not offered) and calls tools
 *   plainly.
 */
const TASKS_EXTENSION = 'io.modelcontextprotocol/tasks';

export interface TasksSession {
  client: Client;
  session: TaskEnabledSession;
  close(): Promise<void>;
}

/** A host request coordinator over the SDK's HTTP transport: own ids, answers matched by id. */
async function rawCoordinator(url: URL, headers: Record<string, string>, fetchFn: typeof fetch) {
  const transport = new StreamableHTTPClientTransport(url, { requestInit: { headers }, fetch: fetchFn });
  const waiting = new Map<string, { resolve: (r: JsonRpcResponse) => void; reject: (e: unknown) => void }>();
  transport.onmessage = (m: JSONRPCMessage) => {
    const msg = m as { id?: unknown; result?: unknown; error?: ErrorV2 };
    const w = typeof msg.id === 'string' ? waiting.get(msg.id) : undefined;
    if (!w) return; // notifications (progress) are not answers
    waiting.delete(msg.id as string);
    w.resolve(msg.error ? { kind: 'error', error: msg.error } : { kind: 'result', result: msg.result as JsonValue });
  };
  await transport.start();
  let next = 0;
  const dispatch: RawClientDispatch = async (request, options) => {
    const id = `raw-${++next}`;
    const answer = new Promise<JsonRpcResponse>((resolve, reject) => {
      waiting.set(id, { resolve, reject });
      options?.signal?.addEventListener(
        'abort',
        () => {
          waiting.delete(id);
          reject(new DispatchError('request aborted'));
        },
        { once: true },
      );
    });
    answer.catch(() => undefined);
    try {
      await transport.send({ ...(request as Record<string, unknown>), jsonrpc: '2.0', id } as JSONRPCMessage, {
        ...(options?.signal ? { requestSignal: options.signal } : {}),
        ...(options?.context?.headers ? { headers: { ...options.context.headers } } : {}),
      });
    } catch (e) {
      waiting.delete(id);
      throw new DispatchError('request failed', false, { cause: e });
    }
    return answer;
  };
  return { dispatch, close: () => transport.close() };
}

export async function connectTasksSession(
  url: string,
  token: string,
  o: { era: 'modern' | 'legacy'; fetch?: typeof fetch; endpointId?: string },
): Promise<TasksSession> {
  const fetchFn = o.fetch ?? fetch;
  const headers = { Authorization: `Bearer ${token}` };
  const clientInfo = { name: 'ext-tasks-test', version: '1.0.0' };
  const clientCapabilities = { extensions: { [TASKS_EXTENSION]: {} } };
  const client = new Client(clientInfo, o.era === 'modern' ? { versionNegotiation: { mode: 'auto' }, capabilities: clientCapabilities } : {});
  await client.connect(new StreamableHTTPClientTransport(new URL(url), { requestInit: { headers }, fetch: fetchFn }));
  const endpointId = o.endpointId ?? url;
  if (o.era === 'legacy') {
    const session = createTaskSessionFromClient(client, { endpointId });
    return {
      client,
      session,
      close: async () => {
        await session.close();
        await client.close();
      },
    };
  }
  const raw = await rawCoordinator(new URL(url), headers, fetchFn);
  const protocolVersion = client.getNegotiatedProtocolVersion();
  if (!protocolVersion) throw new Error('the client negotiated no protocol version');
  const session = createTaskSessionFromClient(client, {
    endpointId,
    rawDispatch: raw.dispatch,
    v2RequestFraming: { protocolVersion, clientInfo, clientCapabilities },
  });
  return {
    client,
    session,
    close: async () => {
      await session.close();
      await raw.close();
      await client.close();
    },
  };
}
