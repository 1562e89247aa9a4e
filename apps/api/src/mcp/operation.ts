import { carrierOf, contextOf, errorTypeOf, inSpan, linkTo, markError, tracingOn, type InSpanOptions, type Metrics } from '@mcprt/observability';
import type { ToolRegistry } from '@mcprt/tools';
import type { ParameterizedContext } from 'koa';

/**
 * One MCP request as the OpenTelemetry MCP semantic conventions see it: the SERVER span
 * `{mcp.method.name} {target}` (tracing on) and the `mcp.server.operation.duration` histogram
 * (always). The handlers report what the answer was through `McpOperation` (build-server.ts): a tool
 * result with `isError` is `tool_error`, a JSON-RPC error its code.
 */
export interface McpOperation {
  errorType?: string;
}

export interface OperationDeps {
  metrics: Pick<Metrics, 'mcpServerOperationSeconds'>;
  registry: Pick<ToolRegistry, 'get'>;
}

type Message = { id?: unknown; method?: unknown; params?: { name?: unknown; _meta?: unknown } };

/**
 * The methods a client can send (both eras), as metric labels and span names; anything else is
 * `_OTHER`, so a client cannot mint new series or span names.
 */
const METHODS = new Set([
  'initialize',
  'ping',
  'server/discover',
  'tools/list',
  'tools/call',
  'tasks/get',
  'tasks/cancel',
  'tasks/update',
  'tasks/list',
  'tasks/result',
  'logging/setLevel',
  'resources/list',
  'resources/read',
  'resources/templates/list',
  'prompts/list',
  'prompts/get',
  'completion/complete',
  'notifications/initialized',
  'notifications/cancelled',
  'notifications/progress',
  'notifications/roots/list_changed',
]);
const ENVELOPE_VERSION_KEY = 'io.modelcontextprotocol/protocolVersion';
/** A JSON-RPC error answer as the SDK writes it (JSON mode): `{"jsonrpc":"2.0","id":…,"error":{"code":N`. */
const RPC_ERROR = /^\{(?:"jsonrpc":"2\.0",)?(?:"id":(?:"[^"]*"|-?\d+|null),)?"error":\{"code":(-?\d+)/;

/**
 * Observe one request around `serve` (the protocol front). A batch (2025-03-26 only) is served
 * unobserved: its messages share one HTTP exchange and have no duration of their own.
 */
export async function observeMcpRequest(
  r: OperationDeps,
  ctx: ParameterizedContext,
  tenant: { id: string; slug: string },
  op: McpOperation,
  serve: () => Promise<void>,
): Promise<void> {
  const m = ctx.request.body as Message | null;
  if (typeof m !== 'object' || m === null || Array.isArray(m) || typeof m.method !== 'string') return serve();
  const method = METHODS.has(m.method) ? m.method : '_OTHER';
  const tool = method === 'tools/call' && typeof m.params?.name === 'string' ? m.params.name.slice(0, 128) : undefined;
  const started = performance.now();
  try {
    if (!tracingOn()) return await serve();
    await inSpan(tool ? `${method} ${tool}` : method, spanOptions(ctx, m, method, tool, tenant.slug), async (span) => {
      await serve();
      const errorType = answerError(ctx, op);
      if (errorType) markError(span, errorType);
      if (errorType && /^-?\d+$/.test(errorType)) span?.setAttribute('rpc.response.status_code', errorType);
    });
  } catch (e) {
    op.errorType ??= errorTypeOf(e);
    throw e;
  } finally {
    const toolLabel = tool === undefined ? '' : r.registry.get(tool) ? tool : '_OTHER';
    r.metrics.mcpServerOperationSeconds.observe(
      { mcp_method_name: method, gen_ai_tool_name: toolLabel, error_type: answerError(ctx, op) ?? '', tenant: tenant.id },
      (performance.now() - started) / 1000,
    );
  }
}

/** What the answer says went wrong: the handlers' report, else a JSON-RPC error the SDK wrote itself. */
function answerError(ctx: ParameterizedContext, op: McpOperation): string | undefined {
  if (op.errorType === undefined && typeof ctx.body === 'string') op.errorType = RPC_ERROR.exec(ctx.body)?.[1];
  if (op.errorType === undefined && ctx.status >= 400) op.errorType = String(ctx.status);
  return op.errorType;
}

/**
 * SERVER span, parented on the caller's context: `params._meta` (`traceparent`, `tracestate`) first,
 * as the conventions ask (the per-message context of MCP), else the W3C headers of the HTTP request;
 * when both name a context and they differ, the headers' one is kept as a link.
 */
function spanOptions(ctx: ParameterizedContext, m: Message, method: string, tool: string | undefined, tenant: string): InSpanOptions {
  const meta = m.params?._meta as Record<string, unknown> | undefined;
  const fromMeta = contextOf(carrierOf(meta));
  const fromHeaders = contextOf(carrierOf({ traceparent: ctx.get('traceparent'), tracestate: ctx.get('tracestate') || undefined }));
  const version = ctx.get('mcp-protocol-version') || (typeof meta?.[ENVELOPE_VERSION_KEY] === 'string' ? meta[ENVELOPE_VERSION_KEY] : '');
  const session = ctx.get('mcp-session-id');
  const links = fromMeta && fromHeaders ? linkTo(fromHeaders) : undefined;
  return {
    kind: 'server',
    parent: fromMeta ?? fromHeaders ?? 'root',
    ...(links ? { links } : {}),
    attributes: {
      'mcp.method.name': method,
      ...(typeof m.id === 'string' || typeof m.id === 'number' ? { 'jsonrpc.request.id': String(m.id).slice(0, 128) } : {}),
      ...(tool ? { 'gen_ai.tool.name': tool, 'gen_ai.operation.name': 'execute_tool' } : {}),
      ...(version ? { 'mcp.protocol.version': version.slice(0, 32) } : {}),
      ...(session ? { 'mcp.session.id': session.slice(0, 128) } : {}),
      'network.protocol.name': 'http',
      'network.transport': 'tcp',
      'mcprt.tenant': tenant,
    },
  };
}
