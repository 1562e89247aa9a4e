/**
 * The load: one way to send `tools/call` (./raw-http.ts on keep-alive sockets, or the official SDK
 * Client), and the closed-loop driver that keeps N calls in flight and checks every answer.
 */
import { performance } from 'node:perf_hooks';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { RawHttpConnection } from './raw-http.js';
import { CALL_TIMEOUT_MS, METHOD, MODERN, PROTOCOL } from './settings.js';

export interface RunStats {
  latencies: number[];
  errors: number;
  errorSamples: string[];
  callIds: string[];
  ms: number;
}

export const emptyStats = (): RunStats => ({ latencies: [], errors: 0, errorSamples: [], callIds: [], ms: 0 });

/** One way to send `tools/call`: the MCP SDK Client, or a plain keep-alive HTTP JSON-RPC poster. */
export type Caller = { callTool(params: { name: string; arguments: Record<string, unknown> }, opts: { timeout: number }): Promise<unknown> };

/** The 2026-07-28 per-request envelope, in every request's `params._meta`. */
const ENVELOPE = {
  'io.modelcontextprotocol/protocolVersion': '2026-07-28',
  'io.modelcontextprotocol/clientCapabilities': {},
  'io.modelcontextprotocol/clientInfo': { name: 'mcprt-bench', version: '1' },
};

/**
 * The JSON-RPC message of an answer: a JSON body, or an SSE stream's last `data:` event (what the
 * SDK's handler answers a 2025-era request with by default).
 */
function messageOf(body: string): { result?: unknown; error?: { message: string } } {
  if (body.startsWith('{')) return JSON.parse(body) as { result?: unknown };
  const data = body
    .split('\n')
    .filter((l) => l.startsWith('data:'))
    .at(-1);
  if (!data) throw new Error(`neither JSON nor SSE: ${body.slice(0, 100)}`);
  return JSON.parse(data.slice(5)) as { result?: unknown };
}

/**
 * The load generator's client (BENCH_CLIENT=raw, the default): JSON-RPC `tools/call` over HTTP/1.1
 * keep-alive on plain sockets (./raw-http.ts) to an MCP endpoint, answering with the CallToolResult;
 * a connection per call in flight (opened when none is idle). It spends a fraction of node:http's
 * CPU per request (and far less than the SDK client), which would otherwise be taken from the
 * system under test on the same cores. BENCH_CLIENT=sdk uses the official SDK Client instead.
 */
export function rawCaller(url: string, tokenOf: () => string): Caller {
  const target = new URL(url);
  // One method and tool per run, so the standard headers are fixed per connection; the token is too
  // (a connection made with a token that was refreshed since is closed instead of reused).
  const method = METHOD === 'call' ? 'tools/call' : MODERN ? 'server/discover' : 'ping';
  const headers = {
    'content-type': 'application/json',
    accept: 'application/json, text/event-stream',
    'mcp-protocol-version': PROTOCOL,
    ...(MODERN ? { 'mcp-method': method, ...(method === 'tools/call' ? { 'mcp-name': 'echo' } : {}) } : {}),
  };
  const idle: { conn: RawHttpConnection; token: string }[] = [];
  let id = 0;
  return {
    async callTool(params, opts) {
      const token = tokenOf();
      let held = idle.pop();
      // Not one the server closed while it sat idle (keep-alive timeout), nor one made with an older token.
      while (held && (held.conn.closed || held.token !== token)) {
        held.conn.close();
        held = idle.pop();
      }
      held ??= { conn: new RawHttpConnection(target, { authorization: `Bearer ${token}`, ...headers }), token };
      const conn = held.conn;
      const timer = setTimeout(() => conn.close(), opts.timeout);
      try {
        const p = method === 'tools/call' ? params : {};
        const res = await conn.post(JSON.stringify({ jsonrpc: '2.0', id: ++id, method, params: MODERN ? { ...p, _meta: ENVELOPE } : p }));
        idle.push(held);
        const msg = messageOf(res.body);
        if (res.status !== 200 || !msg.result) throw new Error(`HTTP ${res.status}: ${msg.error?.message ?? 'no result'}`);
        return msg.result;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}

/**
 * One echo call, its answer checked: this call's own message back (run by the worker, for the
 * end-to-end path; inline, for the peer). Records the latency from `since` (the send time, or the
 * scheduled one in an open loop), and the call id the runtime reports.
 */
export async function checkedCall(client: Caller, i: number, stats: RunStats, since = performance.now()): Promise<void> {
  try {
    const message = `x${i}`;
    const res = (await client.callTool({ name: 'echo', arguments: { message } }, { timeout: CALL_TIMEOUT_MS })) as CallToolResult;
    stats.latencies.push(performance.now() - since);
    if (METHOD === 'ping') return; // answered `{}` (ping) or the server's capabilities (server/discover)
    const meta = res._meta?.['io.mcprt/call'] as { id?: string } | undefined;
    if (meta?.id) stats.callIds.push(meta.id);
    if (res.isError || (res.structuredContent as { message?: unknown } | undefined)?.message !== message) {
      stats.errors++;
      if (stats.errorSamples.length < 3) stats.errorSamples.push(JSON.stringify(res).slice(0, 200));
    }
  } catch (e) {
    stats.latencies.push(performance.now() - since);
    stats.errors++;
    if (stats.errorSamples.length < 3) stats.errorSamples.push(String(e).slice(0, 200));
  }
}

/** Closed loop: `count` echo calls with `concurrency` in flight, lane i on client i mod K. */
export async function drive(clients: Caller[], count: number, concurrency: number): Promise<RunStats> {
  const stats = emptyStats();
  let next = 0;
  const t0 = performance.now();
  const lane = async (laneNo: number) => {
    const client = clients[laneNo % clients.length]!;
    for (let i = next++; i < count; i = next++) await checkedCall(client, i, stats);
  };
  await Promise.all(Array.from({ length: concurrency }, (_, k) => lane(k)));
  stats.ms = performance.now() - t0;
  return stats;
}

/** Adds one run's figures to a running total. */
export function addStats(all: RunStats, s: RunStats): void {
  all.latencies.push(...s.latencies);
  all.callIds.push(...s.callIds);
  all.errors += s.errors;
  all.errorSamples.push(...s.errorSamples.slice(0, 3 - all.errorSamples.length));
  all.ms += s.ms;
}
