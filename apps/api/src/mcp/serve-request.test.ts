import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { bodyParser } from '@koa/bodyparser';
import { Server } from '@modelcontextprotocol/sdk/server/index.js';
import { ListToolsRequestSchema } from '@modelcontextprotocol/sdk/types.js';
import Koa from 'koa';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { serveMcpRequest } from './serve-request.js';

/** What the SDK's handler was given, per request. */
const seen: { headers?: Record<string, unknown>; authInfo?: unknown }[] = [];

describe('serveMcpRequest: the Koa ↔ SDK transport adapter', () => {
  let server: http.Server;
  let url: string;
  beforeAll(async () => {
    const app = new Koa();
    app.use(bodyParser());
    app.use(async (ctx) => {
      const mcp = new Server({ name: 't', version: '1' }, { capabilities: { tools: {} } });
      mcp.setRequestHandler(ListToolsRequestSchema, async (_req, extra) => {
        seen.push({ headers: extra.requestInfo?.headers, authInfo: extra.authInfo });
        return { tools: [] };
      });
      await serveMcpRequest(ctx, mcp, ctx.request.body);
    });
    server = http.createServer(app.callback());
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/t/x/mcp`;
  });
  afterAll(() => new Promise<void>((r) => server.close(() => r())));

  it('never hands the bearer token or cookies to the SDK, and answers with the transport’s JSON', async () => {
    const res = await fetch(url, {
      method: 'POST',
      headers: {
        authorization: 'Bearer secret-token-value',
        cookie: 'session=secret-cookie',
        'content-type': 'application/json',
        accept: 'application/json, text/event-stream',
        'mcp-protocol-version': '2025-06-18',
        'x-custom': 'not forwarded either',
      },
      body: JSON.stringify({ jsonrpc: '2.0', id: 7, method: 'tools/list' }),
    });
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({ jsonrpc: '2.0', id: 7, result: { tools: [] } });
    const last = seen.at(-1)!;
    expect(last.authInfo).toBeUndefined();
    expect(Object.keys(last.headers ?? {}).sort()).toEqual(['accept', 'content-type', 'host', 'mcp-protocol-version']);
    expect(JSON.stringify(last)).not.toMatch(/secret/);
  });
});
