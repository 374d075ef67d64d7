/**
 * OpenTelemetry: one trace per check, from the gateway node to the owner's
 * actor. W3C trace context travels in NATS message headers (from clients) and
 * in the owner-link messages between nodes (services/check/owner-link.ts).
 * With OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT)
 * set, spans go out over OTLP/HTTP.
 */
import { ROOT_CONTEXT, SpanStatusCode, isSpanContextValid, trace } from '@opentelemetry/api';
import type { Context as OtelContext, Span, Tracer, TextMapGetter, TextMapSetter } from '@opentelemetry/api';
import { W3CTraceContextPropagator } from '@opentelemetry/core';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { BatchSpanProcessor, NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

const propagator = new W3CTraceContextPropagator();

const getter: TextMapGetter<Record<string, unknown>> = {
  keys: (c) => Object.keys(c),
  get: (c, k) => {
    const v = c[k];
    return typeof v === 'string' ? v : undefined;
  },
};
const setter: TextMapSetter<Record<string, unknown>> = {
  set: (c, k, v) => {
    c[k] = v;
  },
};

/** The tracer every Headroom span comes from (the global provider's). */
export const tracer = (): Tracer => trace.getTracer('headroom', '0.1.0');

/** Marks `span` failed with `err` (exception event and error status); the caller still ends it. */
export function recordFailure(span: Span, err: unknown): void {
  span.recordException(err as Error);
  span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message });
}

/** Reads W3C trace context (`traceparent`, `tracestate`) from a carrier. */
export function extractContext(carrier: Record<string, unknown> | undefined): OtelContext {
  // Untraced requests (the common case) skip the propagator: this runs per check.
  return carrier?.['traceparent'] === undefined
    ? ROOT_CONTEXT
    : propagator.extract(ROOT_CONTEXT, carrier, getter);
}

const NO_TRACE: Readonly<Record<string, string>> = Object.freeze({});

/** The context's trace context as a carrier; a shared empty one when there is none to carry. */
export function injectContext(ctx: OtelContext): Record<string, string> {
  const sc = trace.getSpanContext(ctx);
  if (sc === undefined || !isSpanContextValid(sc)) return NO_TRACE as Record<string, string>;
  const carrier: Record<string, string> = {};
  propagator.inject(ctx, carrier, setter);
  return carrier;
}

export interface TelemetryHandle {
  /** Flushes and stops the exporter this process started, if any. */
  shutdown(): Promise<void>;
}

let started: NodeTracerProvider | undefined;

/**
 * Registers a tracer provider exporting over OTLP/HTTP when the standard
 * endpoint variable is set and no provider is registered yet (a test may
 * have registered an in-memory one). Otherwise spans stay no-ops.
 */
export function initTelemetry(nodeId: string, env: NodeJS.ProcessEnv = process.env): TelemetryHandle {
  const endpoint = env['OTEL_EXPORTER_OTLP_TRACES_ENDPOINT'] ?? env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  if (endpoint === undefined || endpoint === '' || started !== undefined) return { shutdown: async () => {} };
  const provider = new NodeTracerProvider({
    resource: resourceFromAttributes({
      'service.name': env['OTEL_SERVICE_NAME'] ?? 'headroom',
      'service.instance.id': nodeId,
    }),
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter(), { scheduledDelayMillis: 500 })],
  });
  provider.register();
  started = provider;
  return {
    async shutdown() {
      if (started === provider) {
        started = undefined;
        await provider.shutdown();
      }
    },
  };
}
