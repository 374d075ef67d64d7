// Entry file of services/pools/providers: the real resource providers behind the
// pool manager's ResourceProvider interface. Values first, then types.
export { DbProvider } from './db-provider.ts';
export { compileDbProviderOptions, defaultDbProviderOptions } from './db-options.ts';
export { startupStats } from './startup-stats.ts';
export { ProcessProvider, WorkerState } from './process-provider.ts';
export {
  WorkerLogLevel,
  compileProcessProviderOptions,
  defaultProcessProviderOptions,
} from './process-options.ts';

export type { DbProviderDeps } from './db-provider.ts';
export type { DbProviderOptions } from './db-options.ts';
export type { StartupStats } from './startup-stats.ts';
export type { ProcessProviderDeps, WorkerInfo } from './process-provider.ts';
export type { ProcessProviderOptions } from './process-options.ts';
export type { WorkerConfig } from './worker-main.ts';
