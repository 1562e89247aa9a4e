import { InMemorySpanExporter } from '@opentelemetry/sdk-trace';
import { afterAll, describe, expect, it } from 'vitest';
import { activeCarrier, activeSpan, carrierOf, contextOf, errorTypeOf, inSpan, tracingOn } from './spans.js';
import { startTracing, tracingEnabled, type TracingSettings } from './start.js';

const off: TracingSettings = {
  OTEL_SDK_DISABLED: false,
  OTEL_TRACES_EXPORTER: 'none',
  OTEL_EXPORTER_OTLP_ENDPOINT: 'http://localhost:4318',
  OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
  OTEL_EXPORTER_OTLP_TIMEOUT: 10_000,
  OTEL_TRACES_SAMPLER: 'parentbased_always_on',
  OTEL_BSP_SCHEDULE_DELAY: 5_000,
  OTEL_BSP_MAX_QUEUE_SIZE: 2_048,
};
const PARENT = '00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01';

describe('tracing off (the default)', () => {
  it('starts nothing, loads no SDK, and every call is a pass-through', async () => {
    expect(tracingEnabled(off)).toBe(false);
    expect(tracingEnabled({ ...off, OTEL_TRACES_EXPORTER: 'otlp', OTEL_SDK_DISABLED: true })).toBe(false);
    expect(await startTracing(off, { serviceName: 'test' })).toBeUndefined();
    expect(tracingOn()).toBe(false);
    expect(await inSpan('x', {}, async (span) => span)).toBeUndefined();
    expect(activeCarrier()).toBeUndefined();
    expect(activeSpan()).toBeUndefined();
    expect(contextOf(carrierOf({ traceparent: PARENT }))).toBeUndefined();
  });
});

describe('tracing on, with an in-memory exporter', () => {
  const exporter = new InMemorySpanExporter();
  let stop: (() => Promise<void>) | undefined;
  afterAll(() => stop?.());

  it('nests spans, continues a carried context, and carries it on', async () => {
    const tracing = (await startTracing(off, { serviceName: 'test', exporter }))!;
    stop = () => tracing.shutdown();
    expect(tracingOn()).toBe(true);
    let carried: ReturnType<typeof activeCarrier>;
    await inSpan('outer', { kind: 'server', parent: contextOf(carrierOf({ traceparent: PARENT, tracestate: 'a=1' })) }, async () => {
      await inSpan('inner', {}, async () => {
        carried = activeCarrier();
      });
    });
    await inSpan('worker side', { kind: 'consumer', parent: contextOf(carried) }, async () => undefined);
    await expect(
      inSpan('fails', { parent: 'root' }, () => Promise.reject(Object.assign(new Error('secret text'), { code: 'upstream_timeout' }))),
    ).rejects.toThrow();
    const spans = exporter.getFinishedSpans();
    const byName = Object.fromEntries(spans.map((s) => [s.name, s]));
    const outer = byName.outer!;
    expect(outer.spanContext().traceId).toBe('0af7651916cd43dd8448eb211c80319c');
    expect(outer.parentSpanContext?.spanId).toBe('b7ad6b7169203331');
    expect(byName.inner!.parentSpanContext?.spanId).toBe(outer.spanContext().spanId);
    expect(carried).toEqual({ traceparent: `00-0af7651916cd43dd8448eb211c80319c-${byName.inner!.spanContext().spanId}-01`, tracestate: 'a=1' });
    expect(byName['worker side']!.parentSpanContext?.spanId).toBe(byName.inner!.spanContext().spanId);
    // A failure: its code, status ERROR, no message; a new trace for `root`.
    expect(byName.fails!.attributes['error.type']).toBe('upstream_timeout');
    expect(byName.fails!.status).toEqual({ code: 2 });
    expect(JSON.stringify(byName.fails!.events)).not.toContain('secret text');
    expect(byName.fails!.spanContext().traceId).not.toBe(outer.spanContext().traceId);
  });
});

describe('carriers', () => {
  it('take a well-formed traceparent only, and a bounded tracestate', () => {
    expect(carrierOf({ traceparent: PARENT })).toEqual({ traceparent: PARENT });
    for (const bad of ['', '00-xyz', PARENT.toUpperCase(), `${PARENT}-extra`, 42]) expect(carrierOf({ traceparent: bad })).toBeUndefined();
    expect(carrierOf({ traceparent: PARENT, tracestate: 'x'.repeat(600) })).toEqual({ traceparent: PARENT });
    expect(carrierOf(undefined)).toBeUndefined();
  });
  it('errorTypeOf: a code or a class, never a message', () => {
    expect(errorTypeOf(Object.assign(new Error('m'), { code: 'cancelled' }))).toBe('cancelled');
    expect(errorTypeOf(Object.assign(new Error('m'), { code: -32602 }))).toBe('-32602');
    expect(errorTypeOf(new TypeError('m'))).toBe('TypeError');
    expect(errorTypeOf('a string')).toBe('_OTHER');
  });
});
