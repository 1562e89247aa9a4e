import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bodyParser } from '@koa/bodyparser';
import { Server } from '@modelcontextprotocol/server';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMcpFront } from './serve-request.js';

/** What the SDK's handler was given, per request. */
const seen: { headers: Record<string, string>; authInfo?: unknown; era?: string }[] = [];

const envelope = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'wire', version: '1' },
};

describe('the MCP front: Koa ↔ SDK, both protocol eras', () => {
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    const front = createMcpFront();
    const app = new Koa();
    app.use(bodyParser());
    app.use(async (ctx) => {
      const mcp = new Server({ name: 't', version: '1' }, { capabilities: { tools: {} } });
      mcp.setRequestHandler('tools/list', async (_req, c) => {
        seen.push({ headers: Object.fromEntries(c.http?.req?.headers ?? []), authInfo: c.http?.authInfo, era: mcp.getNegotiatedProtocolVersion() });
        return { tools: [] };
      });
      await front.serve(ctx, () => mcp, ctx.request.body);
    });
    server = http.createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/t/x/mcp`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  const secrets = { authorization: 'Bearer secret-token-value', cookie: 'session=secret-cookie', 'x-custom': 'not forwarded either' };
  const post = (body: unknown, headers: Record<string, string>) =>
    fetch(url, {
      method: 'POST',
      headers: { 'content-type': 'application/json', accept: 'application/json, text/event-stream', ...secrets, ...headers },
      body: JSON.stringify(body),
    });

  it('2025 era: never hands the bearer token or cookies to the SDK, and answers with the transport’s JSON', async () => {
    const res = await post({ jsonrpc: '2.0', id: 7, method: 'tools/list' }, { 'mcp-protocol-version': '2025-06-18' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^application\/json/);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 7, result: { tools: [] } });
    const last = seen.at(-1)!;
    expect(last.authInfo).toBeUndefined();
    expect(Object.keys(last.headers).sort()).toEqual(['accept', 'content-type', 'host', 'mcp-protocol-version']);
    expect(JSON.stringify(last)).not.toMatch(/secret/);
  });

  it('2026-07-28 era: the same, through the modern handler (standard headers forwarded, nothing else)', async () => {
    const res = await post(
      { jsonrpc: '2.0', id: 8, method: 'tools/list', params: { _meta: envelope } },
      { 'mcp-protocol-version': '2026-07-28', 'mcp-method': 'tools/list', 'mcp-param-region': 'eu' },
    );
    expect(res.status).toBe(200);
    const body = (await res.json()) as { id: number; result: { tools: unknown[]; _meta: Record<string, unknown> } };
    expect(body.id).toBe(8);
    expect(body.result.tools).toEqual([]);
    expect(body.result._meta['io.modelcontextprotocol/serverInfo']).toEqual({ name: 't', version: '1' });
    const last = seen.at(-1)!;
    expect(last.era).toBe('2026-07-28');
    expect(last.authInfo).toBeUndefined();
    expect(Object.keys(last.headers).sort()).toEqual(['accept', 'content-type', 'host', 'mcp-method', 'mcp-param-region', 'mcp-protocol-version']);
    expect(JSON.stringify(last)).not.toMatch(/secret/);
  });
});
