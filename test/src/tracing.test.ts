import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SCAVIO_KEY, startStack, type ClientKind, type Stack } from './harness/stack.js';
import { spawnApp, type AppProcess } from './harness/app-process.js';
import { startOtlpReceiver, type ReceivedSpan } from './harness/otlp-receiver.js';
import { expectNoSecrets } from './harness/secret-scan.js';
import { freePort } from './harness/free-port.js';
import { waitFor } from './harness/wait-for.js';

/**
 * Tracing end to end, over the real export path: the API and a worker run as their own processes
 * (`main.ts`, as deployed) with OTEL_TRACES_EXPORTER=otlp and OTLP/HTTP JSON to a receiver in this
 * test. One tool call must come back as ONE trace: the caller's context → the API's SERVER span →
 * the enqueue (PRODUCER) → through Redis in the job → the worker's CONSUMER span → its steps → the
 * upstream request to the Scavio double (CLIENT), with Redis commands beside them.
 */
const SPAN = { internal: 1, server: 2, client: 3, producer: 4, consumer: 5 } as const;
const hex = (bytes: number) => randomBytes(bytes).toString('hex');
const traceparent = () => ({ traceId: hex(16), spanId: hex(8) });
const header = (t: { traceId: string; spanId: string }) => `00-${t.traceId}-${t.spanId}-01`;
const ERROR = 2;

describe('tracing: one trace per call across API, queue, worker and upstream', () => {
  let s: Stack;
  let receiver: Awaited<ReturnType<typeof startOtlpReceiver>>;
  const apps: AppProcess[] = [];
  const SECRET_ARG = `s3cret-argument-${hex(8)}`;
  const QUERY = `private search ${hex(6)}`;
  let token: string;
  let metricsPort: number;

  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    s = await startStack({
      label: 'tracing',
      api: 'none',
      worker: 'none',
      env: {
        OTEL_TRACES_EXPORTER: 'otlp',
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json',
        OTEL_BSP_SCHEDULE_DELAY: '100',
        // A failed upstream call fails at once (no retry with backoff): the tool error below.
        JOB_ATTEMPTS: '1',
      },
    });
    metricsPort = await freePort();
    apps.push(spawnApp('api', s.env, { METRICS_PORT: String(metricsPort) }), spawnApp('worker', s.env));
    await Promise.all(apps.map((a) => a.ready));
    await s.connectUser('alice');
    token = await s.token('alice');
  });
  afterAll(async () => {
    for (const a of apps) a.child.kill('SIGTERM');
    await Promise.all(apps.map((a) => a.exited));
    await s?.close();
    await receiver?.close();
  });

  /** The trace's spans once every name in `names` has arrived. */
  const traceWith = (traceId: string, names: string[]) =>
    waitFor(`spans ${names.join(', ')}`, async () => {
      const spans = receiver.trace(traceId);
      return names.every((n) => spans.some((sp) => sp.name === n)) ? spans : undefined;
    });
  const one = (spans: ReceivedSpan[], name: string) => {
    const found = spans.filter((sp) => sp.name === name);
    expect(found, name).toHaveLength(1);
    return found[0]!;
  };

  /** Every span's parent is in the trace, except the root's, which is the caller's span. */
  function expectConnected(spans: ReceivedSpan[], callerSpanId: string) {
    const ids = new Set(spans.map((sp) => sp.spanId));
    for (const sp of spans)
      expect(ids.has(sp.parentSpanId) || sp.parentSpanId === callerSpanId, `${sp.name} (${sp.service}) has its parent in the trace`).toBe(true);
    expect(spans.filter((sp) => sp.parentSpanId === callerSpanId).map((sp) => sp.name)).toEqual([spans.find((sp) => sp.kind === SPAN.server)!.name]);
  }

  const eras: [ClientKind, string][] = [
    ['v2', '2026-07-28'],
    ['v1', '2025-11-25'],
  ];
  it.each(eras)('%s client (%s): the caller → API → queue → worker → Scavio double is one connected trace', async (kind, version) => {
    const caller = traceparent();
    const client = await s.client(token, { kind });
    const res = await client.callTool({ name: 'web_search', arguments: { query: QUERY }, _meta: { traceparent: header(caller), tracestate: 'vendor=abc' } });
    expect(res.isError).toBeFalsy();
    const spans = await traceWith(caller.traceId, [
      'tools/call web_search',
      'send tool-calls',
      'process tool-calls',
      'execute_tool web_search',
      'POST',
      'settle',
    ]);
    expectConnected(spans, caller.spanId);

    const server = one(spans, 'tools/call web_search');
    expect(server).toMatchObject({ service: 'mcprt-api', kind: SPAN.server, parentSpanId: caller.spanId });
    expect(server.attributes).toMatchObject({
      'mcp.method.name': 'tools/call',
      'gen_ai.tool.name': 'web_search',
      'gen_ai.operation.name': 'execute_tool',
      'mcp.protocol.version': version,
      'mcprt.tenant': s.slug,
    });
    expect(server.attributes['jsonrpc.request.id']).toEqual(expect.any(String));
    expect(server.attributes['error.type']).toBeUndefined();
    const send = one(spans, 'send tool-calls');
    expect(send).toMatchObject({ service: 'mcprt-api', kind: SPAN.producer, parentSpanId: server.spanId });
    const callId = server.attributes['mcprt.call.id'];
    expect(callId).toMatch(/^call_/);
    expect(send.attributes['messaging.message.id']).toBe(callId);
    // The queue hop: the worker's span is a child of the API's enqueue, through the job's `trace`.
    const process = one(spans, 'process tool-calls');
    expect(process).toMatchObject({ service: 'mcprt-worker', kind: SPAN.consumer, parentSpanId: send.spanId });
    expect(process.attributes).toMatchObject({ 'mcprt.call.id': callId, 'gen_ai.tool.name': 'web_search', 'messaging.destination.name': 'tool-calls' });
    for (const step of ['bind call', 'take lease', 'recheck policy', 'execute_tool web_search', 'settle'])
      expect(one(spans, step).parentSpanId, step).toBe(process.spanId);
    const execute = one(spans, 'execute_tool web_search');
    const upstream = one(spans, 'POST');
    expect(upstream).toMatchObject({ service: 'mcprt-worker', kind: SPAN.client, parentSpanId: execute.spanId });
    expect(upstream.attributes).toMatchObject({ 'http.request.method': 'POST', 'server.address': '127.0.0.1', 'http.response.status_code': 200 });
    // Redis commands (instrumentation-ioredis) in both processes, inside the call's spans.
    const redis = spans.filter((sp) => sp.attributes['db.system.name'] === 'redis');
    expect(new Set(redis.map((sp) => sp.service))).toEqual(new Set(['mcprt-api', 'mcprt-worker']));
    if (kind === 'v2') writeExample(spans, caller.spanId);
  });

  it('a tool result with isError is error.type=tool_error on the SERVER span; the worker and upstream spans say why', async () => {
    const caller = traceparent();
    const client = await s.client(token);
    const res = await client.callTool({ name: 'web_search', arguments: { query: '__server_error__' }, _meta: { traceparent: header(caller) } });
    expect(res.isError).toBe(true);
    const spans = await traceWith(caller.traceId, ['tools/call web_search', 'process tool-calls', 'POST']);
    const server = one(spans, 'tools/call web_search');
    expect(server.attributes['error.type']).toBe('tool_error');
    expect(server.status.code).toBe(ERROR);
    expect(one(spans, 'POST').attributes).toMatchObject({ 'http.response.status_code': 500, 'error.type': '500' });
    expect(one(spans, 'process tool-calls').status.code).toBe(ERROR);
  });

  it('an argument error answered by the API alone is a tool_error too; an unknown tool is its JSON-RPC code', async () => {
    const caller = traceparent();
    const client = await s.client(token);
    expect((await client.callTool({ name: 'echo', arguments: { message: 42 }, _meta: { traceparent: header(caller) } })).isError).toBe(true);
    const [bad] = await traceWith(caller.traceId, ['tools/call echo']);
    expect(bad!.attributes['error.type']).toBe('tool_error');
    const other = traceparent();
    await expect(client.callTool({ name: 'no_such_tool', arguments: {}, _meta: { traceparent: header(other) } })).rejects.toThrow(/Unknown tool/);
    const [unknown] = await traceWith(other.traceId, ['tools/call no_such_tool']);
    expect(unknown!.attributes).toMatchObject({ 'error.type': '-32602', 'rpc.response.status_code': '-32602' });
  });

  it('W3C headers are honoured when _meta has no context; when both do, _meta wins and the headers become a link', async () => {
    const headers = { authorization: `Bearer ${token}`, 'mcp-protocol-version': '2025-11-25' };
    const call = (id: number, meta?: Record<string, string>) => ({
      jsonrpc: '2.0',
      id,
      method: 'tools/call',
      params: { name: 'echo', arguments: { message: 'traced', secret: SECRET_ARG }, ...(meta ? { _meta: meta } : {}) },
    });
    const viaHeader = traceparent();
    expect((await s.post(call(1), { ...headers, traceparent: header(viaHeader) })).status).toBe(200);
    const spans = await traceWith(viaHeader.traceId, ['tools/call echo', 'process tool-calls', 'execute_tool echo']);
    expectConnected(spans, viaHeader.spanId);
    expect(one(spans, 'tools/call echo').attributes['mcp.protocol.version']).toBe('2025-11-25');

    const inMeta = traceparent();
    const inHeader = traceparent();
    expect((await s.post(call(2, { traceparent: header(inMeta) }), { ...headers, traceparent: header(inHeader) })).status).toBe(200);
    const both = await traceWith(inMeta.traceId, ['tools/call echo', 'execute_tool echo']);
    expect(one(both, 'tools/call echo').parentSpanId).toBe(inMeta.spanId);
    expect(one(both, 'tools/call echo').links).toEqual([expect.objectContaining({ traceId: inHeader.traceId, spanId: inHeader.spanId })]);
    expect(receiver.trace(inHeader.traceId)).toEqual([]);
  });

  it('a malformed traceparent starts a new trace (never an error)', async () => {
    const client = await s.client(token);
    const before = receiver.spans.length;
    const res = await client.callTool({ name: 'echo', arguments: { message: 'x' }, _meta: { traceparent: '00-not-a-context-01' } });
    expect(res.isError).toBeFalsy();
    await waitFor('a new root', async () => receiver.spans.slice(before).find((sp) => sp.name === 'tools/call echo' && sp.parentSpanId === '') ?? undefined);
  });

  it('mcp_server_operation_duration_seconds counts the calls by method, tool, error type and tenant', async () => {
    const text = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    const count = (labels: string) =>
      Number(new RegExp(`^mcp_server_operation_duration_seconds_count\\{([^}]*,)?${labels}(,[^}]*)?\\} (\\d+)$`, 'm').exec(text)?.[3] ?? 0);
    const tenant = `tenant="${s.tenant.id}"`;
    expect(count(`mcp_method_name="tools/call",gen_ai_tool_name="web_search",error_type="",${tenant}`)).toBeGreaterThanOrEqual(2);
    expect(count(`mcp_method_name="tools/call",gen_ai_tool_name="web_search",error_type="tool_error",${tenant}`)).toBe(1);
    // A name the registry does not know makes no series of its own.
    expect(count(`mcp_method_name="tools/call",gen_ai_tool_name="_OTHER",error_type="-32602",${tenant}`)).toBe(1);
    expect(text).not.toContain('no_such_tool');
  });

  it('no token, sensitive argument, argument value, result or upstream key in any exported span', async () => {
    await waitFor('spans of the echo call with a secret', async () => receiver.spans.some((sp) => sp.name === 'execute_tool echo') || undefined);
    const everything = receiver.bodies.join('\n');
    expectNoSecrets(
      { token, sensitiveArgument: SECRET_ARG, searchQuery: QUERY, scavioKey: SCAVIO_KEY, resultTitle: `${QUERY} — result` },
      { 'exported spans': everything },
    );
    // Nor any path or query string of an upstream request.
    expect(everything).not.toContain('/api/v2/google');
  });
});

/**
 * The first era's trace, as the docs show it (docs/tracing-example.json), when TRACING_EXAMPLE_OUT
 * names a file: the span tree depth first, children by start time, times relative to the root.
 */
function writeExample(spans: ReceivedSpan[], callerSpanId: string) {
  const out = process.env.TRACING_EXAMPLE_OUT;
  if (!out) return;
  const root = spans.find((sp) => sp.parentSpanId === callerSpanId)!;
  const ordered: (Omit<ReceivedSpan, 'startNs'> & { depth: number; startMs: number })[] = [];
  const visit = (sp: ReceivedSpan, depth: number) => {
    const { startNs, ...rest } = sp;
    ordered.push({ depth, startMs: Number(startNs - root.startNs) / 1e6, ...rest });
    for (const child of spans.filter((c) => c.parentSpanId === sp.spanId).sort((a, b) => (a.startNs < b.startNs ? -1 : 1))) visit(child, depth + 1);
  };
  visit(root, 0);
  writeFileSync(out, `${JSON.stringify(ordered, null, 2)}\n`);
}
