import { context, propagation, trace } from '@opentelemetry/api';
import type * as SdkModule from '@opentelemetry/sdk-trace';
import type { Sampler, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import { withTimeout } from '../timeout.js';
import { useTracer } from './spans.js';

/** The OTEL_* settings (packages/config validates them; this is the shape the tracing reads). */
export interface TracingSettings {
  OTEL_SDK_DISABLED: boolean;
  OTEL_TRACES_EXPORTER: 'none' | 'otlp' | 'console';
  OTEL_SERVICE_NAME?: string | undefined;
  OTEL_RESOURCE_ATTRIBUTES?: Record<string, string> | undefined;
  OTEL_EXPORTER_OTLP_ENDPOINT: string;
  OTEL_EXPORTER_OTLP_TRACES_ENDPOINT?: string | undefined;
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf' | 'http/json';
  OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?: 'http/protobuf' | 'http/json' | undefined;
  OTEL_EXPORTER_OTLP_HEADERS?: Record<string, string> | undefined;
  OTEL_EXPORTER_OTLP_TIMEOUT: number;
  OTEL_TRACES_SAMPLER: 'always_on' | 'always_off' | 'traceidratio' | 'parentbased_always_on' | 'parentbased_always_off' | 'parentbased_traceidratio';
  OTEL_TRACES_SAMPLER_ARG?: number | undefined;
  OTEL_BSP_SCHEDULE_DELAY: number;
  OTEL_BSP_MAX_QUEUE_SIZE: number;
}

export interface StartTracingOptions {
  /** `service.name` when OTEL_SERVICE_NAME is unset (`mcprt-api`, …). */
  serviceName: string;
  /**
   * The process's own `ioredis` module (CommonJS exports) and its version: its commands become spans
   * through @opentelemetry/instrumentation-ioredis, patched in place (this code base is ES modules,
   * which the instrumentation's require hook does not see).
   */
  ioredis?: { exports: unknown; version: string };
  /** Tests: export here (an InMemorySpanExporter, flushed span by span) instead of what the settings say. */
  exporter?: SpanExporter;
  /** Export failures (default: ignored; spans are dropped, calls are never held up). */
  onError?: (e: Error) => void;
}

export interface Tracing {
  /** Export what is buffered now (tests; the drain). */
  flush(): Promise<void>;
  /** Flush, then stop tracing in this process (the last holder's shutdown does). */
  shutdown(): Promise<void>;
}

/** One SDK per process, shared by every holder (tests run the API and a worker in one process). */
let shared: { flush: () => Promise<void>; holders: number; stop: () => Promise<void> } | undefined;

export const tracingEnabled = (s: TracingSettings): boolean => !s.OTEL_SDK_DISABLED && s.OTEL_TRACES_EXPORTER !== 'none';

/**
 * Start tracing for this process when the settings ask for it (OTEL_TRACES_EXPORTER otlp or console,
 * OTEL_SDK_DISABLED not set); otherwise undefined, and no SDK module is ever loaded. Registers the
 * W3C trace-context propagator, the AsyncLocalStorage context manager and a tracer provider with a
 * batch processor (the export runs off the request path; a full queue drops spans).
 */
export async function startTracing(settings: TracingSettings, opts: StartTracingOptions): Promise<Tracing | undefined> {
  if (!tracingEnabled(settings) && !opts.exporter) return undefined;
  if (shared) {
    shared.holders++;
    return holder(shared);
  }
  const sdk = await import('@opentelemetry/sdk-trace');
  const [{ AsyncLocalStorageContextManager }, { W3CTraceContextPropagator }, { resourceFromAttributes }] = await Promise.all([
    import('@opentelemetry/context-async-hooks'),
    import('@opentelemetry/core'),
    import('@opentelemetry/resources'),
  ]);
  const exporter = opts.exporter ?? (await exporterFor(settings, sdk));
  const processor: SpanProcessor = opts.exporter
    ? new sdk.SimpleSpanProcessor({ exporter })
    : new sdk.BatchSpanProcessor({ exporter, scheduledDelayMillis: settings.OTEL_BSP_SCHEDULE_DELAY, maxQueueSize: settings.OTEL_BSP_MAX_QUEUE_SIZE });
  const provider = new sdk.TracerProvider({
    resource: resourceFromAttributes({ ...settings.OTEL_RESOURCE_ATTRIBUTES, 'service.name': settings.OTEL_SERVICE_NAME ?? opts.serviceName }),
    sampler: samplerFor(settings, sdk),
    spanProcessors: [processor],
  });
  const contextManager = new AsyncLocalStorageContextManager().enable();
  context.setGlobalContextManager(contextManager);
  propagation.setGlobalPropagator(new W3CTraceContextPropagator());
  trace.setGlobalTracerProvider(provider);
  const unpatch = opts.ioredis ? await instrumentIoredis(opts.ioredis) : undefined;
  useTracer(provider.getTracer('mcprt'));
  const stop = async () => {
    useTracer(undefined);
    unpatch?.();
    // Bounded: a collector that hangs never holds up a drain (the spans still buffered are dropped).
    await withTimeout(provider.shutdown(), SHUTDOWN_MS, 'trace export').catch((e: unknown) => opts.onError?.(e as Error));
    trace.disable();
    propagation.disable();
    context.disable();
  };
  const flush = () => withTimeout(provider.forceFlush(), SHUTDOWN_MS, 'trace export').catch((e: unknown) => opts.onError?.(e as Error));
  shared = { flush, holders: 1, stop };
  return holder(shared);
}

/** The longest a flush or the final shutdown may take (the drain's grace is longer). */
const SHUTDOWN_MS = 2_000;

function holder(s: NonNullable<typeof shared>): Tracing {
  let done = false;
  return {
    flush: () => s.flush(),
    async shutdown() {
      if (done) return;
      done = true;
      await s.flush();
      if (--s.holders > 0) return;
      if (shared === s) shared = undefined;
      await s.stop();
    },
  };
}

type Sdk = typeof SdkModule;

async function exporterFor(s: TracingSettings, sdk: Sdk): Promise<SpanExporter> {
  if (s.OTEL_TRACES_EXPORTER === 'console') return new sdk.ConsoleSpanExporter();
  const url = s.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? `${s.OTEL_EXPORTER_OTLP_ENDPOINT.replace(/\/+$/, '')}/v1/traces`;
  const config = { url, timeoutMillis: s.OTEL_EXPORTER_OTLP_TIMEOUT, ...(s.OTEL_EXPORTER_OTLP_HEADERS ? { headers: s.OTEL_EXPORTER_OTLP_HEADERS } : {}) };
  const protocol = s.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL ?? s.OTEL_EXPORTER_OTLP_PROTOCOL;
  if (protocol === 'http/json') return new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter(config);
  return new (await import('@opentelemetry/exporter-trace-otlp-proto')).OTLPTraceExporter(config);
}

function samplerFor(s: TracingSettings, sdk: Sdk): Sampler {
  const ratio = () => new sdk.TraceIdRatioBasedSampler(s.OTEL_TRACES_SAMPLER_ARG ?? 1);
  switch (s.OTEL_TRACES_SAMPLER) {
    case 'always_on':
      return new sdk.AlwaysOnSampler();
    case 'always_off':
      return new sdk.AlwaysOffSampler();
    case 'traceidratio':
      return ratio();
    case 'parentbased_always_off':
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new sdk.ParentBasedSampler({ root: ratio() });
    default:
      return new sdk.ParentBasedSampler({ root: new sdk.AlwaysOnSampler() });
  }
}

/**
 * Redis commands as spans, only inside a span (a call's), so the worker's idle polling is not traced.
 * The statement is the command name alone: arguments are keys and values (a job's data, sealed
 * tokens) and are never recorded.
 */
async function instrumentIoredis(ioredis: { exports: unknown; version: string }): Promise<() => void> {
  const { IORedisInstrumentation } = await import('@opentelemetry/instrumentation-ioredis');
  const instrumentation = new IORedisInstrumentation({ enabled: false, requireParentSpan: true, dbStatementSerializer: (name) => name });
  const [definition] = instrumentation.getModuleDefinitions();
  definition?.patch?.(ioredis.exports, ioredis.version);
  return () => definition?.unpatch?.(ioredis.exports, ioredis.version);
}
