export { REDACT_PATHS, createLogger, scrubText } from './logger.js';
export type { Logger, LoggerOptions } from './logger.js';
export { createMetrics } from './metrics.js';
export type { Metrics } from './metrics.js';
export {
  activeCarrier,
  activeSpan,
  carrierOf,
  contextOf,
  errorTypeOf,
  inSpan,
  linkTo,
  markError,
  startTracing,
  TRACEPARENT_PATTERN,
  tracingEnabled,
  tracingOn,
} from './tracing/index.js';
export type { InSpanOptions, SpanKindName, StartTracingOptions, TraceCarrier, Tracing, TracingSettings } from './tracing/index.js';
export { SAMPLE_TIMEOUT_MS } from './sampled.js';
export { withTimeout } from './timeout.js';
export type { QueueSample, SampledGauges } from './sampled.js';
