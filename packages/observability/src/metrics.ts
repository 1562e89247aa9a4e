import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { sampledGauges } from './sampled.js';

/** One registry per process; apps expose it at /metrics. */
const FETCH_LOOP_HELP = 'Times this worker found its BullMQ fetch loop stuck (jobs waiting, none taken) and replaced the BullMQ worker';

export function createMetrics(app: string) {
  const registry = new Registry();
  registry.setDefaultLabels({ app });
  collectDefaultMetrics({ register: registry });
  return {
    registry,
    httpRequests: new Counter({
      name: 'mcprt_http_requests_total',
      help: 'HTTP requests by route and status',
      labelNames: ['route', 'status'] as const,
      registers: [registry],
    }),
    toolCalls: new Counter({
      name: 'mcprt_tool_calls_total',
      help: 'Tool calls by tool, tenant (id) and outcome',
      labelNames: ['tool', 'tenant', 'outcome'] as const,
      registers: [registry],
    }),
    toolCallSeconds: new Histogram({
      name: 'mcprt_tool_call_seconds',
      help: 'Tool run time in the worker, by tool, tenant (id) and outcome (succeeded, failed)',
      labelNames: ['tool', 'tenant', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
    mcpServerOperationSeconds: mcpServerOperationSeconds(registry),
    enqueueFailures: new Counter({
      name: 'mcprt_enqueue_failures_total',
      help: 'Calls recorded but not enqueued (left to the reconciler)',
      registers: [registry],
    }),
    reconciled: new Counter({
      name: 'mcprt_reconciled_calls_total',
      help: 'Calls enqueued again by the reconciler',
      registers: [registry],
    }),
    auditIntegrityFailures: new Counter({
      name: 'mcprt_audit_integrity_failures_total',
      help: 'Audit checkpoints the checkpointer refused to chain onto, or retention refused to use, because they do not verify',
      labelNames: ['job'] as const,
      registers: [registry],
    }),
    loopFailures: new Counter({
      name: 'mcprt_background_loop_failures_total',
      help: 'Failed passes of background loops (reconciler, sweeper, audit checkpointer, retention), by loop',
      labelNames: ['loop'] as const,
      registers: [registry],
    }),
    failureFates: new Counter({
      name: 'mcprt_tool_call_failures_total',
      help: 'Runs that threw, by tool, fate class (fate.ts: reauth, policy, rate_limited, cancelled, timeout, transient, permanent) and action (wait, retry, fail)',
      labelNames: ['tool', 'fate', 'action'] as const,
      registers: [registry],
    }),
    credentialRefreshes: new Counter({
      name: 'mcprt_credential_refreshes_total',
      help: 'Upstream token refreshes this process redeemed, by provider and outcome (refreshed, failed, reauth_required)',
      labelNames: ['provider', 'outcome'] as const,
      registers: [registry],
    }),
    leaseWaits: new Counter({
      name: 'mcprt_lease_waits_total',
      help: 'Runs put back to wait, by reason (concurrency: the user has no free slot; upstream_budget: the per-user upstream budget is spent)',
      labelNames: ['reason'] as const,
      registers: [registry],
    }),
    rateLimitRefusals: new Counter({
      name: 'mcprt_rate_limit_refusals_total',
      help: 'Calls refused by the call-rate limits, by scope (user, tenant)',
      labelNames: ['scope'] as const,
      registers: [registry],
    }),
    activeJobs: new Gauge({ name: 'mcprt_worker_active_jobs', help: 'Jobs running in this worker', registers: [registry] }),
    fetchLoopReplacements: new Counter({ name: 'mcprt_worker_fetch_loop_replacements_total', help: FETCH_LOOP_HELP, registers: [registry] }),
    /** Gauges read at scrape time; each process registers the ones it can read. */
    sampled: sampledGauges(registry),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;

/**
 * OpenTelemetry's `mcp.server.operation.duration` (MCP semantic conventions), in Prometheus form:
 * one observation per MCP request the API answers (its whole handling, the wait for the worker
 * included). `gen_ai_tool_name` is the tool for tools/call (`_OTHER` for a name the registry does
 * not know: a client cannot make new series), `error_type` is `tool_error` for a tool result with
 * isError, the JSON-RPC error code for an error answer, empty on success; `tenant` is the tenant's
 * id, as on the other per-tenant metrics. Buckets: the conventions' advice.
 */
function mcpServerOperationSeconds(registry: Registry) {
  return new Histogram({
    name: 'mcp_server_operation_duration_seconds',
    help: 'MCP requests answered by the server (OpenTelemetry mcp.server.operation.duration), by method, tool, error type and tenant (id)',
    labelNames: ['mcp_method_name', 'gen_ai_tool_name', 'error_type', 'tenant'] as const,
    buckets: [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 30, 60, 120, 300],
    registers: [registry],
  });
}
