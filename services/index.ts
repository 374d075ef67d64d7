// Entry file of services/: Moleculer wiring of the domain pieces.
export { startNode } from './node.ts';
export { ProcessGuard } from './process-guard.ts';
export { compileNodeOptions, defaultNodeOptions, envName, LogLevel } from './node-options.ts';
export {
  NATS_AUTH_FLAGS,
  NODE_INBOX_PREFIX,
  NatsAuthMethod,
  NatsConnectSpec,
  compileNatsConnect,
  connectError,
  connectNats,
  optNullableSecret,
  redactUrl,
} from './nats-connect.ts';
export { natsAuthEnv, natsAuthFromEnv } from './nats-auth-options.ts';
export { Api, Operation } from './api/handlers.ts';
export { NatsApi, API_PREFIX, API_QUEUE } from './api/nats-api.ts';
export { startHttpApi } from './api/http-api.ts';
export { HttpAuth, isLoopbackHost } from './api/http-auth.ts';
export { Gateway } from './gateway.ts';
export { PlacementTracker, ACTOR_SERVICE } from './placement-tracker.ts';
export { ThrottleNode } from './throttle-node.ts';
export { throttleService } from './throttle-service.ts';
export { Handoff, HANDOFF_WAIT_MS } from './handoff.ts';
export { DormantTokens } from './dormant-tokens.ts';
export { refOf } from './wire.ts';
export { FileRuleStore } from './rules/file-rule-store.ts';
export { KvRuleStore, kvKeyOf } from './rules/kv-rule-store.ts';
export { RULE_HISTORY } from './rules/rule-store.ts';
export { initTelemetry, extractContext, injectContext, tracer } from './telemetry.ts';
export { replCommands, parseKeyValues } from './repl-commands.ts';
export { Collector } from './collector.ts';
export { createCollection, LOST_METRIC } from './collection.ts';
export { initOnUse } from './collector-store.ts';
export { EventHub, eventsService, noEvents, SIGNAL_EVENT } from './events.ts';
export { EventsFeed } from './events-feed.ts';
export { MapProfileProvider, noProfiles, loadProfileFile, parseProfiles } from './profile-provider.ts';
export {
  GENERATED_KEY_FILE,
  defaultNodePrivacy,
  loadIpRegions,
  loadKeyFile,
  loadPrivacyFile,
  storeTokenHasher,
} from './privacy-config.ts';
export { StoreKind } from './node-options.ts';
export { ForecastBackend } from './node-options.ts';
export { ForecastHub, forecastService, checkPredictParams, registryDirOf } from './forecast-service.ts';
export { bayesService, bayesQuery } from './bayes-service.ts';
export { Trainer, trainerService, holdoutOf } from './trainer-service.ts';
export { ForecastCadence } from './forecast-cadence.ts';
export { liveTrainingSource, storeTrainingSource } from './training-data.ts';
export { setupForecasting } from './forecasting.ts';
export {
  DbProvider,
  compileDbProviderOptions,
  defaultDbProviderOptions,
  startupStats,
  ProcessProvider,
  WorkerState,
  WorkerLogLevel,
  compileProcessProviderOptions,
  defaultProcessProviderOptions,
} from './providers/index.ts';
export { TrafficRouter } from './traffic.ts';
export { PoolKind, PoolPolicyName, compilePools, loadPoolsFile } from './pools-config.ts';
export { Pools, poolsService, poolKey } from './pools.ts';
export { PoolRunner, checkWantParams } from './pool-runner.ts';
export { PoolClient, wantOf } from './pool-client.ts';
export { setupPools } from './pools-setup.ts';

export type { HeadroomNode, StartNodeExtras, StopReport } from './node.ts';
export type { UnexpectedErrorCounts, ProcessGuardLog, ProcessGuardOptions } from './process-guard.ts';
export type { NodeOptions } from './node-options.ts';
export type { NatsAuthOptions } from './nats-connect.ts';
export type { StatusNode } from './api/handlers.ts';
export type { HttpApi, HttpApiOptions } from './api/http-api.ts';
export type { HttpAuthOptions } from './api/http-auth.ts';
export type { RuleChange, RuleRevision, RuleStore } from './rules/rule-store.ts';
export type { TelemetryHandle } from './telemetry.ts';
export type { RuleRef, TakeItem, TakeParams, HandoffItem, HandoffParams } from './wire.ts';
export type { DecisionObserver, ThrottleDeps } from './throttle-node.ts';
export type { CollectorDeps, CollectorLogger, CollectorStats } from './collector.ts';
export type { Collection, CollectionStats } from './collection.ts';
export type { EventsApi, EventReply, EventLevelReply, EventHubDeps } from './events.ts';
export type { EventsFeedDeps, EventsFeedStats } from './events-feed.ts';
export type { ProfileProvider, ProfileAttributes } from './profile-provider.ts';
export type { KeyFile } from './privacy-config.ts';
export type { ForecastConfig, PredictParams, PredictReply, ModelsModule } from './forecast-service.ts';
export type { BayesQueryParams, BayesQueryReply } from './bayes-service.ts';
export type { TrainerOptions, TrainerDeps, TrainerStatus, TrainRunSummary } from './trainer-service.ts';
export type { ForecastCadenceDeps } from './forecast-cadence.ts';
export type { TrainingData, TrainingSource } from './training-data.ts';
export type { Forecasting } from './forecasting.ts';
export type {
  DbProviderDeps,
  DbProviderOptions,
  StartupStats,
  ProcessProviderDeps,
  WorkerInfo,
  ProcessProviderOptions,
  WorkerConfig,
} from './providers/index.ts';
export type { TrafficRouterOptions, TrafficRouterDeps, Routed } from './traffic.ts';
export type { PoolSpec } from './pools-config.ts';
export type { PoolStatus, PoolsDeps } from './pools.ts';
export type { WireWant, PoolRunStatus } from './pool-runner.ts';
export type { PoolClientDeps } from './pool-client.ts';
export type { PoolsSetup } from './pools-setup.ts';
