import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';

/** One registry per process; apps expose it at /metrics. */
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
      help: 'Tool calls by tool and outcome',
      labelNames: ['tool', 'outcome'] as const,
      registers: [registry],
    }),
    toolCallSeconds: new Histogram({
      name: 'mcprt_tool_call_seconds',
      help: 'Tool run time in the worker',
      labelNames: ['tool', 'outcome'] as const,
      buckets: [0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers: [registry],
    }),
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
    activeJobs: new Gauge({ name: 'mcprt_worker_active_jobs', help: 'Jobs running in this worker', registers: [registry] }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
