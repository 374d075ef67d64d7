/**
 * OTLP metrics push: with OTEL_EXPORTER_OTLP_ENDPOINT (or
 * OTEL_EXPORTER_OTLP_METRICS_ENDPOINT) set, the node's prom-client registry
 * is exported over OTLP/HTTP every `OTEL_METRIC_EXPORT_INTERVAL` ms (default
 * 60000, the SDK's). One bridge, no second set of counters on the check
 * path: at each export the registry is read as a scrape would read it, and
 * each counter and gauge becomes an observable OTel counter or gauge of the
 * same name and labels; a histogram is pushed as its `_count` and `_sum`
 * counters (the OTel SDK has no observable histogram). The node's id is the
 * resource's `service.instance.id`.
 */
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import { OTLPMetricExporter } from '@opentelemetry/exporter-metrics-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import type { Attributes, BatchObservableResult, Observable } from '@opentelemetry/api';
import type { NodeMetrics } from './node-metrics.ts';

/** A prom-client metric as its `get()` reads it (collect() run, values by labels). */
interface PromMetric {
  get(): Promise<{ name: string; values: Array<{ value: number; labels: Attributes; metricName?: string }> }>;
}

export interface OtlpPush {
  /** Pushes what is there now and stops. */
  shutdown(): Promise<void>;
}

/**
 * The URL metrics are pushed to, from the environment (the specification's
 * rule: the signal's own endpoint as is, else the base one plus
 * `/v1/metrics`); undefined when push is off.
 */
export function otlpMetricsEndpoint(env: NodeJS.ProcessEnv = process.env): string | undefined {
  const own = env['OTEL_EXPORTER_OTLP_METRICS_ENDPOINT'];
  if (own !== undefined && own !== '') return own;
  const base = env['OTEL_EXPORTER_OTLP_ENDPOINT'];
  return base === undefined || base === '' ? undefined : `${base.replace(/\/+$/, '')}/v1/metrics`;
}

/** Starts pushing `metrics` (call after {@link NodeMetrics.read}: the instruments are made from the registry once). */
export function startOtlpPush(
  metrics: NodeMetrics,
  nodeId: string,
  env: NodeJS.ProcessEnv = process.env,
): OtlpPush {
  const url = otlpMetricsEndpoint(env);
  if (url === undefined) throw new Error('startOtlpPush needs OTEL_EXPORTER_OTLP_ENDPOINT');
  const interval = Number(env['OTEL_METRIC_EXPORT_INTERVAL'] ?? 60_000);
  const provider = new MeterProvider({
    resource: resourceFromAttributes({
      'service.name': env['OTEL_SERVICE_NAME'] ?? 'headroom',
      'service.instance.id': nodeId,
    }),
    readers: [
      new PeriodicExportingMetricReader({
        // Headers and timeout: the exporter reads OTEL_EXPORTER_OTLP_* itself.
        exporter: new OTLPMetricExporter({ url }),
        exportIntervalMillis: Number.isFinite(interval) && interval >= 100 ? interval : 60_000,
      }),
    ],
  });
  const meter = provider.getMeter('headroom');
  /** Sample name (as prom-client names it) -> the instrument that carries it. */
  const instruments = new Map<string, Observable>();
  for (const m of metrics.registry.getMetricsAsArray()) {
    const { name, help, type } = m as unknown as { name: string; help: string; type: string };
    if (type === 'counter') instruments.set(name, meter.createObservableCounter(name, { description: help }));
    else if (type === 'gauge')
      instruments.set(name, meter.createObservableGauge(name, { description: help }));
    else if (type === 'histogram') {
      instruments.set(`${name}_count`, meter.createObservableCounter(`${name}_count`, { description: help }));
      instruments.set(`${name}_sum`, meter.createObservableCounter(`${name}_sum`, { description: help }));
    }
  }
  const observe = async (result: BatchObservableResult): Promise<void> => {
    for (const m of metrics.registry.getMetricsAsArray() as unknown as PromMetric[]) {
      const got = await m.get();
      for (const v of got.values) {
        const sample = v.metricName ?? got.name;
        const instrument = instruments.get(sample);
        if (instrument === undefined || !Number.isFinite(v.value)) continue;
        result.observe(instrument, v.value, v.labels);
      }
    }
  };
  meter.addBatchObservableCallback(observe, [...instruments.values()]);
  return { shutdown: () => provider.shutdown() };
}
