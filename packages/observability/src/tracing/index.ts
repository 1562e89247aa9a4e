export { activeCarrier, activeSpan, carrierOf, contextOf, errorTypeOf, inSpan, linkTo, markError, TRACEPARENT_PATTERN, tracingOn } from './spans.js';
export type { InSpanOptions, SpanKindName, TraceCarrier } from './spans.js';
export { startTracing, tracingEnabled } from './start.js';
export type { StartTracingOptions, Tracing, TracingSettings } from './start.js';
