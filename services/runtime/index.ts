// Entry file of services/runtime: what every part of a node shares at run
// time, below the capabilities: the node's options (compiled once from flags,
// environment and files), reading a file an option names, the OpenTelemetry
// tracer and context propagation, the process-level guard of unexpected
// errors, a counter of work in flight for graceful stops, and the node's
// logs (pino, Moleculer's logger bridged; logEvent for event lines). Runs in the
// node's process. Depends on lib/ and services/nats. Values first, then types.
export {
  ForecastBackend,
  LogLevel,
  StoreKind,
  compileNodeOptions,
  defaultNodeOptions,
  envName,
} from './node-options.ts';
export { readOptionsFile } from './options-file.ts';
export {
  LogFormat,
  PrettyLines,
  defaultLogFormat,
  logEvent,
  nodeLoggerConfig,
  prettyLine,
} from './logging.ts';
export { extractContext, initTelemetry, injectContext, recordFailure, tracer } from './telemetry.ts';
export { ProcessGuard, short } from './process-guard.ts';
export { Inflight } from './inflight.ts';

export type { NodeOptions } from './node-options.ts';
export type { EventLogger, LogSink, NodeLogOptions } from './logging.ts';
export type {
  GuardedProcess,
  ProcessGuardLog,
  ProcessGuardOptions,
  UnexpectedErrorCounts,
} from './process-guard.ts';
export type { TelemetryHandle } from './telemetry.ts';
