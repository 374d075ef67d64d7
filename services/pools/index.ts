// Entry file of services/pools: resource pools wired into a node. The pools
// file (pools-config.ts), the `pools` Moleculer service whose runners hold a
// PoolManager per pool (on the pool's owner node), the client that sends each
// token's wants to its pool (their wire form and its check: pool-wants.ts),
// the traffic router, and the real providers behind a pool (providers/:
// database connections, worker processes whose entry,
// providers/worker-main.ts, is started by path). Runs in the node's process
// and, for process pools, in its worker processes. Depends on lib/, actors/,
// models/rl, sim/ and services/runtime, nats, wire, cluster, collection and
// check. Values first, then types.
export { PoolKind, PoolPolicyName, compilePools, loadPoolsFile } from './pools-config.ts';
export { CLAIM_RETRY_MS, Pools, poolKey, poolOverview, poolsService } from './pools.ts';
export { PoolRunner, poolForecastOf } from './pool-runner.ts';
export { checkWantParams } from './pool-wants.ts';
export { PoolClient, wantOf } from './pool-client.ts';
export { setupPools } from './pools-setup.ts';
export { SeasonKeeper } from './season-keeper.ts';
export { KvSeasonStore, seasonBucket, seasonKey } from './season-store.ts';
export { TrafficRouter } from './traffic.ts';
export {
  DbProvider,
  ProcessProvider,
  WorkerLogLevel,
  WorkerState,
  compileDbProviderOptions,
  compileProcessProviderOptions,
  defaultDbProviderOptions,
  defaultProcessProviderOptions,
  startupStats,
} from './providers/index.ts';

export type { PoolSpec } from './pools-config.ts';
export type { PoolOverview, PoolStatus, PoolsDeps } from './pools.ts';
export type { PoolForecast, PoolLog, PoolRunStatus } from './pool-runner.ts';
export type { WireWant } from './pool-wants.ts';
export type { PoolClientDeps } from './pool-client.ts';
export type { PoolsSetup } from './pools-setup.ts';
export type { SeasonKeeperDeps, SeasonStatus } from './season-keeper.ts';
export type { SeasonStore } from './season-store.ts';
export type { Routed, TrafficRouterDeps, TrafficRouterOptions } from './traffic.ts';
export type {
  DbProviderDeps,
  DbProviderOptions,
  ProcessProviderDeps,
  ProcessProviderOptions,
  StartupStats,
  WorkerConfig,
  WorkerInfo,
} from './providers/index.ts';
