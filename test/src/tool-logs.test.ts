import { randomBytes } from 'node:crypto';
import { Client as ClientV1 } from '@modelcontextprotocol/sdk/client/index.js';
import { StreamableHTTPClientTransport as TransportV1 } from '@modelcontextprotocol/sdk/client/streamableHttp.js';
import { LoggingMessageNotificationSchema } from '@modelcontextprotocol/sdk/types.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from './harness/stack.js';

/**
 * Log messages a tool sends while it runs reach the request that made the call — only it, only at
 * the level it asked for, before the result — in both protocol eras; through the real path (API →
 * queue → worker → Postgres NOTIFY → API). `test_tool_with_logging` sends three `info` messages
 * about 50 ms apart.
 */
const TOOL = 'test_tool_with_logging';
const SCOPE = `tools:${TOOL}`;
let s: Stack;

beforeAll(async () => {
  s = await startStack({ label: 'tool-logs', enabledTools: [TOOL] });
  for (const u of ['alice', 'bob']) await s.connectUser(u);
}, 90_000);
afterAll(() => s?.close());

type Frame = { method?: string; params?: { level?: string; data?: unknown }; result?: { content?: unknown } };

/** A 2026-07-28 tools/call with this `_meta` (a log level, or none); every JSON-RPC frame of the answer, in order. */
async function call2026(user: string, meta: Record<string, unknown>): Promise<Frame[]> {
  const res = await s.post(
    {
      jsonrpc: '2.0',
      id: randomBytes(4).toString('hex'),
      method: 'tools/call',
      params: {
        name: TOOL,
        arguments: {},
        _meta: {
          'io.modelcontextprotocol/protocolVersion': '2026-07-28',
          'io.modelcontextprotocol/clientCapabilities': {},
          'io.modelcontextprotocol/clientInfo': { name: 'raw', version: '1' },
          ...meta,
        },
      },
    },
    { authorization: `Bearer ${await s.token(user, { scope: SCOPE })}`, 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/call', 'mcp-name': TOOL },
  );
  expect(res.status).toBe(200);
  const text = await res.text();
  if ((res.headers.get('content-type') ?? '').startsWith('application/json')) return [JSON.parse(text) as Frame];
  return text
    .split('\n')
    .filter((l) => l.startsWith('data: '))
    .map((l) => JSON.parse(l.slice(6)) as Frame);
}

const logsOf = (frames: Frame[]) => frames.filter((f) => f.method === 'notifications/message').map((f) => f.params);

describe('a tool’s log messages', () => {
  it('2026-07-28: sent to a request that asked for info, in order, before the result', async () => {
    const frames = await call2026('alice', { 'io.modelcontextprotocol/logLevel': 'info' });
    expect(logsOf(frames)).toEqual([
      { level: 'info', data: 'Tool execution started' },
      { level: 'info', data: 'Tool processing data' },
      { level: 'info', data: 'Tool execution completed' },
    ]);
    expect(frames.at(-1)?.result?.content).toEqual([{ type: 'text', text: 'Tool with logging executed successfully.' }]);
    expect(frames.findIndex((f) => f.result !== undefined)).toBe(frames.length - 1);
  });

  it('2026-07-28: none for a request that set no level, or a level above the messages’', async () => {
    for (const meta of [{}, { 'io.modelcontextprotocol/logLevel': 'warning' }]) {
      const frames = await call2026('alice', meta);
      expect(logsOf(frames), JSON.stringify(meta)).toEqual([]);
      expect(frames.at(-1)?.result?.content).toBeDefined();
    }
  });

  it('2025-11-25: after logging/setLevel, the client’s notification handler gets them; another app of the same user, which set no level, gets none', async () => {
    const run = async (clientId: string | undefined, level?: 'debug') => {
      const client = new ClientV1({ name: 'logs', version: '1' }, { capabilities: {} });
      const seen: unknown[] = [];
      client.setNotificationHandler(LoggingMessageNotificationSchema, (n) => void seen.push(n.params));
      const token = await s.token('bob', { scope: SCOPE, ...(clientId ? { clientId } : {}) });
      await client.connect(new TransportV1(new URL(s.mcpUrl), { requestInit: { headers: { Authorization: `Bearer ${token}` } } }));
      if (level) await client.setLoggingLevel(level);
      const res = await client.callTool({ name: TOOL, arguments: {} });
      await client.close();
      expect(res.isError).toBeFalsy();
      return seen;
    };
    expect(await run(undefined, 'debug')).toEqual([
      { level: 'info', data: 'Tool execution started' },
      { level: 'info', data: 'Tool processing data' },
      { level: 'info', data: 'Tool execution completed' },
    ]);
    expect(await run('another-app')).toEqual([]);
  });

  it('a message is delivered only to the call it names and its tenant; an oversized one is cut to a note; nothing is stored', async () => {
    const heard: [string, string, string][] = [];
    const sub = await s.db.calls.onCallLog((callId, tenantId, json) => void heard.push([callId, tenantId, json]));
    try {
      await s.db.calls.notifyLog(s.tenant.id, 'call_x', { level: 'error', data: 'x'.repeat(20_000) });
      await expect.poll(() => heard.length).toBe(1);
      const [callId, tenantId, json] = heard[0]!;
      expect([callId, tenantId]).toEqual(['call_x', s.tenant.id]);
      expect(JSON.parse(json)).toEqual({ level: 'error', data: expect.stringMatching(/^\[log message of \d+ bytes not sent: over 7800\]$/) });
    } finally {
      await sub.unlisten();
    }
    const stored = await s.db.sql`select count(*)::int as n from audit_events where tenant_id = ${s.tenant.id} and reason like '%Tool processing data%'`;
    expect(stored[0]!.n).toBe(0);
  });
});
