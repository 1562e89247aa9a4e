import {
  context,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type Link,
  type Span,
  type Tracer,
} from '@opentelemetry/api';

/**
 * The tracing calls the code makes (API, queue, worker, egress). With tracing off (the default) no
 * tracer is set and every call here is one variable check: no span, no context work, no allocation
 * beyond the caller's own closure. `startTracing` (start.ts) sets the tracer when OTEL_TRACES_EXPORTER
 * names an exporter; only then is the SDK loaded.
 */
let tracer: Tracer | undefined;

/** Set by startTracing / cleared by its shutdown; nothing else calls it. */
export function useTracer(t: Tracer | undefined): void {
  tracer = t;
}

export function tracingOn(): boolean {
  return tracer !== undefined;
}

/** W3C trace context as carried in a job, in `params._meta`, or in HTTP headers. */
export interface TraceCarrier {
  traceparent: string;
  tracestate?: string;
}

/** version-traceid-spanid-flags, lower-case hex (W3C Trace Context, level 1/2). */
export const TRACEPARENT_PATTERN = /^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$/;
/** W3C allows 32 list members of up to 256 characters; a longer value is not propagated. */
const TRACESTATE_MAX = 512;

/** The carrier in `source` when it holds a well-formed `traceparent` (anything else: undefined). */
export function carrierOf(source: unknown): TraceCarrier | undefined {
  if (typeof source !== 'object' || source === null) return undefined;
  const { traceparent, tracestate } = source as { traceparent?: unknown; tracestate?: unknown };
  if (typeof traceparent !== 'string' || !TRACEPARENT_PATTERN.test(traceparent)) return undefined;
  return typeof tracestate === 'string' && tracestate.length <= TRACESTATE_MAX ? { traceparent, tracestate } : { traceparent };
}

/** The context a carrier names, as the parent of a new span (undefined: none, or tracing off). */
export function contextOf(carrier: TraceCarrier | undefined): Context | undefined {
  if (!tracer || !carrier) return undefined;
  const ctx = propagation.extract(ROOT_CONTEXT, carrier);
  return trace.getSpanContext(ctx) ? ctx : undefined;
}

/** The active span's context as a carrier, to send along (a job); undefined when tracing is off or nothing is active. */
export function activeCarrier(): TraceCarrier | undefined {
  if (!tracer) return undefined;
  const out: Record<string, string> = {};
  propagation.inject(context.active(), out);
  return carrierOf(out);
}

/** The span the code runs in (undefined when tracing is off): to add an attribute or mark an error. */
export function activeSpan(): Span | undefined {
  return tracer ? trace.getActiveSpan() : undefined;
}

export type SpanKindName = 'server' | 'client' | 'producer' | 'consumer' | 'internal';
const KINDS: Record<SpanKindName, SpanKind> = {
  server: SpanKind.SERVER,
  client: SpanKind.CLIENT,
  producer: SpanKind.PRODUCER,
  consumer: SpanKind.CONSUMER,
  internal: SpanKind.INTERNAL,
};

export interface InSpanOptions {
  kind?: SpanKindName;
  attributes?: Attributes;
  /** The parent (default: the active context; `root`: a new trace). */
  parent?: Context | 'root' | undefined;
  links?: Link[];
}

/**
 * Run `fn` in a new span (the active one while it runs). A throw marks the span with `error.type` (the
 * error's catalogue code or class name, never its message: messages can hold upstream text) and
 * status ERROR. Tracing off: `fn(undefined)`, nothing else.
 */
export async function inSpan<T>(name: string, opts: InSpanOptions, fn: (span: Span | undefined) => Promise<T>): Promise<T> {
  const t = tracer;
  if (!t) return fn(undefined);
  const parent = opts.parent === 'root' ? ROOT_CONTEXT : (opts.parent ?? context.active());
  const span = t.startSpan(
    name,
    { kind: KINDS[opts.kind ?? 'internal'], ...(opts.attributes ? { attributes: opts.attributes } : {}), ...(opts.links ? { links: opts.links } : {}) },
    parent,
  );
  try {
    return await context.with(trace.setSpan(parent, span), () => fn(span));
  } catch (e) {
    markError(span, errorTypeOf(e));
    throw e;
  } finally {
    span.end();
  }
}

/** `error.type` and status ERROR (no description: the type says what failed, and carries no data). */
export function markError(span: Span | undefined, errorType: string): void {
  if (!span) return;
  span.setAttribute('error.type', errorType);
  span.setStatus({ code: SpanStatusCode.ERROR });
}

/** A low-cardinality name for an error: its catalogue code, a JSON-RPC code, or its class; `_OTHER` when none. */
export function errorTypeOf(e: unknown): string {
  if (typeof e === 'object' && e !== null) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /^[\w.-]{1,64}$/.test(code)) return code;
    if (typeof code === 'number' && Number.isInteger(code)) return String(code);
    const name = (e as { constructor?: { name?: unknown } }).constructor?.name;
    if (typeof name === 'string' && name !== 'Object' && name.length <= 64) return name;
  }
  return '_OTHER';
}

/** The span context of a carrier, for a span link (the HTTP headers' context when `_meta` named another parent). */
export function linkTo(ctx: Context | undefined): Link[] | undefined {
  const sc = ctx && trace.getSpanContext(ctx);
  return sc ? [{ context: sc }] : undefined;
}
