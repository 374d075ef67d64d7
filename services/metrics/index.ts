// Entry file of services/metrics: a node's Prometheus metrics. NodeMetrics
// holds the node's own prom-client registry: the check path's counters (the
// Gateway's and OwnerLink's sinks, services/check check-metrics.ts, kept as
// plain numbers and copied out on scrape), gauges read on scrape from the
// node's parts (node-sources.ts) and prom-client's process metrics; the
// metrics server answers `GET /metrics` on `metricsPort`, behind the HTTP
// API's read token; with OTEL_EXPORTER_OTLP_ENDPOINT set the same registry
// is pushed over OTLP/HTTP (otlp-push.ts). Runs in every node's process. Depends on lib/ and
// services/api, check, collection, forecasting, pools and wire (types).
// Values first, then types.
export { CHECK_BUCKETS, NodeMetrics } from './node-metrics.ts';
export { checkMetricsHost, startMetricsServer } from './metrics-server.ts';
export { nodeSources } from './node-sources.ts';
export { otlpMetricsEndpoint, startOtlpPush } from './otlp-push.ts';

export type { MetricSources } from './node-metrics.ts';
export type { MetricsServer, MetricsServerOptions } from './metrics-server.ts';
export type { NodeParts } from './node-sources.ts';
export type { OtlpPush } from './otlp-push.ts';
